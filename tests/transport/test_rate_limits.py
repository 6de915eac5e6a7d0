"""Abuse limits of the DNS tunnel's two doors: the DoH endpoint answers 429 in the API's
error shape once an address is over TALKEE_TUNNEL_DOH_RATE, the gateway process answers
REFUSED once a resolver is over TALKEE_TUNNEL_GATEWAY_RATE; other addresses go on."""

import random
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.test import Client, override_settings
from dnslib import RCODE, DNSRecord

from apps.core.ratelimit import parse_rate
from apps.transport import codec
from tests.conftest import ROOT, _wait_for_port, free_port, server_env, stop

pytestmark = pytest.mark.django_db(transaction=True)

ZONE = "t.localhost"


def _query() -> bytes:
    # an answer chunk nobody has: cheap, and NXDOMAIN while under the rate
    return bytes(DNSRecord.question(f"{codec.b32encode(b'12345678')}-0.d.{ZONE}", "TXT").pack())


def test_rates_are_parsed_strictly() -> None:
    assert parse_rate("600/min") == (600, 60)
    assert parse_rate("5/hour") == (5, 3600)
    for bad in ("600", "x/min", "5/fortnight", "-1/min"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_doh_is_limited_per_address() -> None:
    rate = "3/hour"
    wire = _query()
    with override_settings(TALKEE_TUNNEL_DOH_RATE=rate):

        def ask(address: str) -> object:
            return Client(REMOTE_ADDR=address).post("/dns-query", wire, content_type="application/dns-message")

        # (fresh addresses: the counts live in the shared cache for an hour)
        first, second = (f"198.18.{random.randrange(256)}.{random.randrange(256)}" for _ in range(2))
        for _ in range(3):
            answer = ask(first)
            assert answer.status_code == 200
            assert DNSRecord.parse(answer.content).header.rcode == RCODE.NXDOMAIN
        over = ask(first)
        assert over.status_code == 429
        assert over.json()["error"]["code"] == "rate_limited"
        assert over["Retry-After"] == "3600"
        assert ask(second).status_code == 200, "another address is not held back"


def _udp(source: str, port: int, wire: bytes) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(10)
        sock.sendto(wire, ("127.0.0.1", port))
        return int(DNSRecord.parse(sock.recv(65535)).header.rcode)


def _tcp(port: int, wire: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(len(wire).to_bytes(2, "big") + wire)
        size = int.from_bytes(sock.recv(2), "big")
        data = b""
        while len(data) < size:
            data += sock.recv(size - len(data))
    return int(DNSRecord.parse(data).header.rcode)


def test_the_gateway_refuses_a_resolver_over_its_rate(django_db_setup: None, tmp_path: Path) -> None:
    rate = "5/hour"
    port = free_port()
    log_path = tmp_path / "gateway.log"
    env = server_env({"TALKEE_TUNNEL_GATEWAY_RATE": rate, "CACHE_KEY_PREFIX": f"rl-{uuid.uuid4().hex[:8]}"})
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "dns_gateway", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, process)
        wire = _query()
        answers = [_udp("127.0.0.1", port, wire) for _ in range(4)] + [_tcp(port, wire)]
        assert answers == [RCODE.NXDOMAIN] * 5
        assert _udp("127.0.0.1", port, wire) == RCODE.REFUSED
        assert _tcp(port, wire) == RCODE.REFUSED, "TCP counts for the same address"
        assert _udp("127.0.0.9", port, wire) == RCODE.NXDOMAIN, "another resolver is not held back"
        assert process.poll() is None
    finally:
        stop(process)
    assert "127.0.0.9" not in log_path.read_text(errors="replace"), "no client address is logged"
