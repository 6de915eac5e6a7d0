"""Abuse limits of the DNS tunnel's two doors: the DoH endpoint answers 429 in the API's
error shape once an address is over TALKEE_TUNNEL_DOH_RATE, the gateway process answers
REFUSED once a resolver is over TALKEE_TUNNEL_GATEWAY_RATE (a flood guard) and, for that
session only, once a tunnel session is over TALKEE_TUNNEL_SESSION_RATE: the people behind
one resolver do not throttle each other."""

import base64
import random
import socket
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.test import Client, override_settings
from dnslib import RCODE, DNSRecord

from apps.core.ratelimit import parse_rate
from apps.transport import codec
from tests.conftest import ROOT, _wait_for_port, free_port, make_chat, server_env, stop
from tests.support.dns import gateway
from tests.transport.tunnelclient import DnsError, Resolver, TunnelClient, send_op, tunnel

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


def test_ten_sessions_behind_one_resolver_each_get_their_share_and_a_greedy_one_is_refused(
    make_account, live_server_daphne, tmp_path: Path
) -> None:
    session_rate = 60
    env = {
        "TALKEE_TUNNEL_SESSION_RATE": f"{session_rate}/hour",
        "TALKEE_TUNNEL_GATEWAY_RATE": "100000/hour",
        "CACHE_KEY_PREFIX": f"rl-{uuid.uuid4().hex[:8]}",
    }
    owner, greedy_person, *people = (make_account() for _ in range(12))
    chat = make_chat(owner, "group", greedy_person, *people)
    resolvers: list[Resolver] = []
    with gateway(tmp_path, env) as running:
        # Everyone asks from 127.0.0.1: one recursive resolver, as the gateway sees it.
        def client(token: str) -> TunnelClient:
            resolvers.append(Resolver("udp", ("127.0.0.1", running.port)))
            return tunnel(resolvers[-1], live_server_daphne, token)

        # Queries that never authenticate (a frame of garbage) count against the address
        # only: the sessions below still get their whole share.
        junk = client(owner.token)
        for _ in range(session_rate):
            with pytest.raises(DnsError) as garbage:
                junk.upload(b"\x01" + bytes(80))
            assert garbage.value.rcode == RCODE.REFUSED

        greedy = client(greedy_person.token)
        answered: list[int] = []
        with pytest.raises(DnsError) as throttled:
            for _ in range(session_rate):  # each call costs at least 2 queries
                answered.append(greedy.call({"op": "sync", "cursor": 0})[0])
        assert throttled.value.rcode == RCODE.REFUSED
        assert len(answered) > 5 and set(answered) == {200}, "it had its share before it was refused"

        def chat_a_little(index: int) -> list[int]:
            me = client(people[index].token)
            statuses = [me.call(send_op(chat["id"], f"{index}:{n}".encode()))[0] for n in range(3)]
            return [*statuses, me.call({"op": "sync", "cursor": 0})[0]]

        with ThreadPoolExecutor(max_workers=len(people)) as pool:
            results = list(pool.map(chat_a_little, range(len(people))))
        assert results == [[201, 201, 201, 200]] * len(people), "each of the ten got through"
        with pytest.raises(DnsError) as still:
            greedy.call({"op": "sync", "cursor": 0})
        assert still.value.rcode == RCODE.REFUSED, "the greedy session stays held back"
        assert running.process.poll() is None
    # The one address carried several sessions' worth: a per-address limit at the session
    # rate (the old design) would have refused the ten.
    assert sum(len(r.sent) for r in resolvers) > 4 * session_rate
    # What the owner reads: every message of the ten, each once, in each sender's order.
    texts: list[str] = []
    cursor = 0
    for _ in range(20):
        page = owner.client.get("/v1/sync", {"cursor": cursor, "timeout": 0}).json()
        events = [e for e in page["events"] if e["type"] == "event"]
        if not events:
            break
        texts += [base64.b64decode(e["message"]["ciphertext"]).decode() for e in events]
        cursor = page["cursor"]
    for index in range(len(people)):
        assert [t for t in texts if t.split(":")[0] == str(index)] == [f"{index}:{n}" for n in range(3)]


def test_the_doh_door_limits_each_session_too() -> None:
    from apps.transport.sealing import tunnel_public_key

    with override_settings(TALKEE_TUNNEL_SESSION_RATE="12/hour"):

        def client() -> TunnelClient:
            # No bearer token: the operation answers 401, but the tunnel frame authenticates.
            return TunnelClient(Resolver("doh-in-process"), tunnel_public_key(), ZONE, "")

        # Replays of a frame (anyone on the path saw it) are refused before they are charged:
        # they do not spend the session's share.
        victim = client()
        frame, _ = victim.seal({"op": "sync", "cursor": 0})
        victim.upload(frame)
        for _ in range(12):
            with pytest.raises(DnsError) as replayed:
                victim.upload(frame)
            assert replayed.value.rcode == RCODE.REFUSED
        assert victim.call({"op": "sync", "cursor": 0})[0] == 401

        greedy = client()
        answered: list[int] = []
        with pytest.raises(DnsError) as throttled:
            for _ in range(12):
                answered.append(greedy.call({"op": "sync", "cursor": 0})[0])
        assert throttled.value.rcode == RCODE.REFUSED
        assert len(answered) >= 2 and set(answered) == {401}
        assert client().call({"op": "sync", "cursor": 0})[0] == 401, "another session from the same address goes on"
