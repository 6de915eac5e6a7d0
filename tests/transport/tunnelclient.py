"""A tunnel client for tests: the client protocol over plain DNS (UDP or TCP, raw sockets
and dnslib) or DoH (HTTP POST/GET), built from the same codec the gateway reads."""

import base64
import json
import os
import socket
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from dnslib import QTYPE, RCODE, DNSRecord

from apps.core.b64 import b64
from apps.transport import codec
from apps.transport.sealing import ClientSession
from tests.conftest import LiveServer

ZONE = "t.localhost"  # the test settings' TALKEE_TUNNEL_ZONE


class DnsError(Exception):
    def __init__(self, rcode: int) -> None:
        super().__init__(RCODE.get(rcode))
        self.rcode = rcode


def new_rid() -> str:
    return codec.b32encode(os.urandom(8))


@dataclass
class Resolver:
    """Sends one DNS query message and returns the answer message."""

    kind: str  # "udp", "tcp", "doh-post", "doh-get"; "doh-in-process" (Django's test client)
    address: tuple[str, int] | None = None
    url: str = ""
    sent: list[bytes] = field(default_factory=list)  # every query message, for replay tests
    # A client behind a recursive resolver asks again when an answer is lost (no answer
    # within `timeout`) or the resolver gave up (SERVFAIL): every tunnel name is safe to repeat.
    attempts: int = 1
    timeout: float = 10.0

    def exchange(self, wire: bytes) -> bytes | None:
        self.sent.append(wire)
        if self.kind == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(self.timeout)
                sock.sendto(wire, self.address)
                try:
                    return sock.recv(65535)
                except TimeoutError:
                    return None
        if self.kind == "tcp":
            with socket.create_connection(self.address, timeout=10) as sock:
                sock.sendall(len(wire).to_bytes(2, "big") + wire)
                size = int.from_bytes(_read(sock, 2), "big")
                return _read(sock, size)
        if self.kind == "doh-in-process":
            from django.test import Client

            answer = Client().post("/dns-query", wire, content_type="application/dns-message")
            assert answer.status_code == 200, answer.content
            return bytes(answer.content)
        if self.kind == "doh-get":
            encoded = base64.urlsafe_b64encode(wire).decode().rstrip("=")
            request = urllib.request.Request(f"{self.url}/dns-query?dns={encoded}")
        else:
            request = urllib.request.Request(
                f"{self.url}/dns-query", data=wire, headers={"Content-Type": "application/dns-message"}
            )
        with urllib.request.urlopen(request, timeout=15) as response:
            assert response.headers["Content-Type"] == "application/dns-message"
            return bytes(response.read())

    def query(self, name: str, qtype: str = "TXT") -> DNSRecord:
        for attempt in range(self.attempts):
            query = DNSRecord.question(name, qtype)
            raw = self.exchange(bytes(query.pack()))
            if raw is None:
                continue
            reply = DNSRecord.parse(raw)
            assert reply.header.id == query.header.id
            if reply.header.rcode == RCODE.SERVFAIL and attempt + 1 < self.attempts:
                continue
            return reply
        raise AssertionError(f"no answer after {self.attempts} attempts")

    def txt(self, name: str) -> list[str]:
        reply = self.query(name)
        if reply.header.rcode != RCODE.NOERROR:
            raise DnsError(reply.header.rcode)
        strings = [s.decode() for s in reply.rr[0].rdata.data]
        return strings


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        part = sock.recv(size - len(data))
        if not part:
            raise ConnectionError("closed")
        data += part
    return data


@dataclass
class TunnelClient:
    resolver: Resolver
    server_pk: bytes
    zone: str
    token: str
    session: ClientSession = field(init=False)

    def __post_init__(self) -> None:
        self.session = ClientSession.new(self.server_pk)

    def upload(self, frame: bytes, rid: str | None = None) -> tuple[str, list[bytes]]:
        """Send a sealed frame, fetch every chunk of the reply; returns (rid, chunks)."""
        rid = rid or new_rid()
        names = codec.upload_names(frame, rid, self.zone)
        for name in names[:-1]:
            assert self.resolver.txt(name) == ["ok"]
        seq, total, first = codec.parse_txt(self.resolver.txt(names[-1]))
        assert seq == 0
        chunks = [first]
        for n in range(1, total):
            got, _, chunk = codec.parse_txt(self.resolver.txt(codec.download_name(rid, n, self.zone)))
            assert got == n
            chunks.append(chunk)
        return rid, chunks

    def seal(self, op: dict[str, Any]) -> tuple[bytes, int]:
        body = {"token": self.token, "ts": int(time.time()), **op}
        return self.session.seal(json.dumps(body).encode())

    def call(self, op: dict[str, Any]) -> tuple[int, Any]:
        frame, counter = self.seal(op)
        _, chunks = self.upload(frame)
        answer = json.loads(self.session.open_reply(b"".join(chunks), counter))
        return int(answer["status"]), answer["body"]


def server_info(server: LiveServer) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.url}/.well-known/talkee/server", timeout=10) as response:
        return dict(json.loads(response.read()))


def tunnel(resolver: Resolver, server: LiveServer, token: str) -> TunnelClient:
    """A tunnel client of `server` (its key and zone from the well-known document)."""
    info = server_info(server)
    assert info["tunnel_zone"] == ZONE
    return TunnelClient(resolver, base64.b64decode(info["tunnel_x25519_pub"]), ZONE, token)


def send_op(chat_id: str, ciphertext: bytes, cmid: str | None = None) -> dict[str, Any]:
    return {
        "op": "send",
        "chat_id": chat_id,
        "client_message_id": cmid or uuid.uuid4().hex,
        "kind": "application",
        "epoch": 0,
        "ciphertext": b64(ciphertext),
    }


__all__ = ["QTYPE", "ZONE", "DnsError", "Resolver", "TunnelClient", "new_rid", "send_op", "server_info", "tunnel"]
