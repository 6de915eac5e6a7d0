"""`python manage.py dns_gateway [--host 0.0.0.0] [--port 53] [--no-tcp]`: the
authoritative DNS server for TALKEE_TUNNEL_ZONE (delegate the zone to this host with NS
records). UDP and TCP (RFC 1035 two-byte length prefix) on one asyncio loop; each query
is answered by `gateway.answer`, the same function as the DoH endpoint."""

import asyncio
import logging
import signal
from typing import Any, cast

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.core.ratelimit import aover_rate
from apps.transport.gateway import answer, refused

logger = logging.getLogger("talkee.transport")

TCP_IDLE_SECONDS = 10.0
MAX_INFLIGHT = 256


class _UdpGateway(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.inflight: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(self.inflight) >= MAX_INFLIGHT:
            return  # overloaded: dropping lets the resolver retry elsewhere or later
        task = asyncio.get_running_loop().create_task(self._reply(data, addr))
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def _reply(self, data: bytes, addr: Any) -> None:
        packed = await _answer_from(str(addr[0]), data, udp=True)
        if packed is not None and self.transport is not None:
            self.transport.sendto(packed, addr)


async def _answer_from(address: str, data: bytes, *, udp: bool) -> bytes | None:
    """The answer, or REFUSED once the sender (a resolver, usually) is over its flood-guard
    rate; each tunnel session behind it has its own rate (`services.charge_session`)."""
    if await aover_rate("dns", address, settings.TALKEE_TUNNEL_GATEWAY_RATE):
        return refused(data)
    return await answer(data, udp=udp)


async def _tcp_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")
    address = str(peer[0]) if peer else ""
    try:
        while True:
            size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS), "big")
            data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE_SECONDS)
            packed = await _answer_from(address, data, udp=False)
            if packed is None:
                break
            writer.write(len(packed).to_bytes(2, "big") + packed)
            await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(host: str, port: int, tcp: bool) -> None:
    loop = asyncio.get_running_loop()
    udp_transport, _ = await loop.create_datagram_endpoint(_UdpGateway, local_addr=(host, port))
    tcp_server = await asyncio.start_server(_tcp_client, host, port) if tcp else None
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logger.info(
        "dns gateway listening",
        extra={"host": host, "port": port, "tcp": tcp, "zone": settings.TALKEE_TUNNEL_ZONE},
    )
    try:
        await stop.wait()
    finally:
        udp_transport.close()
        if tcp_server is not None:
            tcp_server.close()


class Command(BaseCommand):
    help = "Serve the DNS tunnel zone (authoritative, UDP and TCP)."
    requires_system_checks: list[str] = []  # a server process, like daphne: no check output in its log

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=5353)
        parser.add_argument("--no-tcp", action="store_true", help="UDP only")

    def handle(self, *args: Any, **options: Any) -> None:
        asyncio.run(serve(options["host"], options["port"], not options["no_tcp"]))
