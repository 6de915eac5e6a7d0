"""The DNS tunnel against real processes: the authoritative gateway (`manage.py
dns_gateway`, UDP and TCP) and the DoH endpoint of a live daphne, both on loopback,
with PostgreSQL and Redis behind them."""

import asyncio
import base64
import json
import os
import random
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from dnslib import QTYPE, RCODE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer
from redis import Redis

from apps.messages.models import Message
from apps.transport import codec
from tests.conftest import b64, free_port, make_chat
from tests.messages.wsclient import SocketDevice
from tests.support.database import dump_database
from tests.support.dns import Gateway, gateway
from tests.transport.tunnelclient import ZONE, DnsError, Resolver, TunnelClient, new_rid, send_op, tunnel

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def dns_gateway(django_db_setup: None, tmp_path_factory: Any) -> Iterator[Gateway]:
    with gateway(tmp_path_factory.mktemp("dns")) as running:
        yield running
    assert running.process.returncode in (0, -15), running.log()


def test_the_well_known_document_names_the_tunnel(settings) -> None:
    from django.test import Client

    from apps.transport.sealing import tunnel_public_key

    info = Client().get("/.well-known/talkee/server").json()
    assert base64.b64decode(info["tunnel_x25519_pub"]) == tunnel_public_key()
    assert (info["tunnel_zone"], info["tunnel_doh_url"]) == (ZONE, None)
    settings.TALKEE_TUNNEL_DOH_URL = "https://doh.example.net/dns-query"
    assert Client().get("/.well-known/talkee/server").json()["tunnel_doh_url"] == settings.TALKEE_TUNNEL_DOH_URL


def udp(gateway: Gateway) -> Resolver:
    return Resolver("udp", ("127.0.0.1", gateway.port))


def test_a_message_sent_over_plain_dns_reaches_the_other_socket_and_syncs_back(
    make_account, live_server_daphne, dns_gateway
) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    secret = os.urandom(600)  # several fragments up, several chunks down
    alice_dns = tunnel(udp(dns_gateway), live_server_daphne, alice.token)
    bob_dns = tunnel(Resolver("tcp", ("127.0.0.1", dns_gateway.port)), live_server_daphne, bob.token)

    async def scenario() -> tuple[dict, dict]:
        receiver = SocketDevice(live_server_daphne.ws_url, bob.token)
        await receiver.connect()
        op = send_op(chat["id"], secret)
        status, sent = await asyncio.to_thread(alice_dns.call, op)
        assert status == 201, sent
        event = await receiver.until(lambda f: f["type"] == "event")
        # The same client_message_id again: stored once, the original answer.
        again = await asyncio.to_thread(alice_dns.call, op)
        await receiver.close()
        return sent, event | {"again": again}

    sent, event = asyncio.run(scenario())
    assert event["message"]["id"] == sent["id"]
    assert base64.b64decode(event["message"]["ciphertext"]) == secret
    assert event["again"] == (200, sent)
    assert Message.objects.filter(chat_id=chat["id"]).count() == 1

    status, page = bob_dns.call({"op": "sync", "cursor": 0, "timeout": 0})
    assert status == 200
    events = [e for e in page["events"] if e["type"] == "event"]
    assert [base64.b64decode(e["message"]["ciphertext"]) for e in events] == [secret]
    status, acked = bob_dns.call({"op": "ack", "cursor": page["cursor"]})
    assert (status, acked) == (200, {"cursor": page["cursor"]})


@pytest.mark.parametrize("kind", ["doh-post", "doh-get"])
def test_doh_endpoint_carries_send_and_a_waiting_sync(make_account, live_server_daphne, kind) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    resolver = Resolver(kind, url=live_server_daphne.url)
    alice_doh = tunnel(resolver, live_server_daphne, alice.token)
    bob_doh = tunnel(Resolver(kind, url=live_server_daphne.url), live_server_daphne, bob.token)
    status, page = bob_doh.call({"op": "sync", "cursor": 0, "timeout": 0})
    assert (status, [e for e in page["events"] if e["type"] == "event"]) == (200, [])
    assert alice_doh.call({"op": "ack", "cursor": 0})[0] == 200  # warm: the wait below is short

    async def scenario() -> tuple[tuple[int, Any], tuple[int, Any]]:
        wait = {"op": "sync", "cursor": page["cursor"], "timeout": 2}
        waiting = asyncio.create_task(asyncio.to_thread(bob_doh.call, wait))
        await asyncio.sleep(0.5)
        sent = await asyncio.to_thread(alice_doh.call, send_op(chat["id"], b"sealed-by-mls"))
        return sent, await waiting

    (status, sent), (sync_status, woken) = asyncio.run(scenario())
    assert status == 201
    assert sync_status == 200, woken
    assert [e["message"]["id"] for e in woken["events"] if e["type"] == "event"] == [sent["id"]]


class CaseMixingForwarder(BaseResolver):
    """A stand-in for a recursive resolver between the client and the gateway: it uses
    0x20 case randomisation on the way up (as many resolvers do), checks that the answer
    echoes the question exactly, and relays it with a query id of its own."""

    def __init__(self, gateway_port: int) -> None:
        self.gateway_port = gateway_port
        self.forwarded = 0

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        name = str(request.q.qname)
        mixed = "".join(c.upper() if random.random() < 0.5 else c.lower() for c in name)
        upstream = DNSRecord.question(mixed, QTYPE[request.q.qtype])
        answer = DNSRecord.parse(upstream.send("127.0.0.1", self.gateway_port, timeout=10))
        assert str(answer.q.qname) == mixed, "the gateway must echo the question as asked"
        self.forwarded += 1
        reply = request.reply()
        reply.header.rcode = answer.header.rcode
        for rr in answer.rr:
            reply.add_answer(RR(request.q.qname, rr.rtype, rdata=rr.rdata, ttl=rr.ttl))
        return reply


def test_the_tunnel_works_through_a_resolver_that_changes_case_and_ids(
    make_account, live_server_daphne, dns_gateway
) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    forwarder = CaseMixingForwarder(dns_gateway.port)
    port = free_port()
    resolver_server = DNSServer(forwarder, port=port, address="127.0.0.1", logger=DNSLogger("-request,-reply"))
    resolver_server.start_thread()
    try:
        client = tunnel(Resolver("udp", ("127.0.0.1", port)), live_server_daphne, alice.token)
        status, sent = client.call(send_op(chat["id"], os.urandom(500)))
        assert status == 201
        status, page = tunnel(Resolver("udp", ("127.0.0.1", port)), live_server_daphne, bob.token).call(
            {"op": "sync", "cursor": 0}
        )
        assert [e["message"]["id"] for e in page["events"] if e["type"] == "event"] == [sent["id"]]
        assert forwarder.forwarded > 5
    finally:
        resolver_server.stop()


def test_api_errors_come_back_in_the_api_shape(make_account, live_server_daphne, dns_gateway) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "channel", bob)
    bob_dns = tunnel(udp(dns_gateway), live_server_daphne, bob.token)
    status, body = bob_dns.call(send_op(chat["id"], b"x"))
    assert (status, body["error"]["code"]) == (403, "channel_read_only")
    status, body = bob_dns.call(send_op(str(uuid.uuid4()), b"x"))
    assert (status, body["error"]["code"]) == (404, "chat_not_found")
    status, body = bob_dns.call({**send_op(chat["id"], b"x"), "ciphertext": "not base64!"})
    assert (status, body["error"]["code"]) == (400, "invalid_input")
    status, body = bob_dns.call({"op": "delete_everything"})
    assert (status, body["error"]["code"]) == (400, "unknown_operation")
    stranger = tunnel(udp(dns_gateway), live_server_daphne, "not-a-token")
    status, body = stranger.call({"op": "sync", "cursor": 0})
    assert (status, body["error"]["code"]) == (401, "unauthenticated")


def test_tampered_replayed_and_stale_frames_are_refused(make_account, live_server_daphne, dns_gateway) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    client = tunnel(udp(dns_gateway), live_server_daphne, alice.token)

    frame, _ = client.seal(send_op(chat["id"], b"tampered"))
    tampered = bytearray(frame)
    tampered[-5] ^= 0x01
    with pytest.raises(DnsError) as refused:
        client.upload(bytes(tampered))
    assert refused.value.rcode == RCODE.REFUSED

    frame, counter = client.seal(send_op(chat["id"], b"once"))
    _, chunks = client.upload(frame)
    assert json.loads(client.session.open_reply(b"".join(chunks), counter))["status"] == 201
    # The same frame under a new request id: a replay, whichever door it comes through.
    with pytest.raises(DnsError) as replayed:
        client.upload(frame)
    assert replayed.value.rcode == RCODE.REFUSED
    with pytest.raises(DnsError):
        TunnelClient(Resolver("doh-post", url=live_server_daphne.url), client.server_pk, ZONE, "").upload(frame)
    # A frame sealed with a clock an hour off.
    stale = client.session.seal(json.dumps({"token": alice.token, "ts": 1, "op": "sync"}).encode())[0]
    with pytest.raises(DnsError):
        client.upload(stale)
    # A frame sealed to some other key.
    other = TunnelClient(client.resolver, bytes(32 * [9]), ZONE, alice.token)
    with pytest.raises(DnsError):
        other.upload(other.seal({"op": "sync"})[0])
    assert Message.objects.filter(chat_id=chat["id"]).count() == 1


def test_garbage_gets_dns_error_codes_and_the_gateway_keeps_answering(live_server_daphne, dns_gateway) -> None:
    resolver = udp(dns_gateway)
    rid = new_rid()

    def rcode(name: str, qtype: str = "TXT") -> int:
        return int(resolver.query(name, qtype).header.rcode)

    assert rcode("www.example.org") == RCODE.REFUSED
    assert rcode("t.localhost.evil.org") == RCODE.REFUSED
    assert rcode(f"hello.{ZONE}") == RCODE.FORMERR
    assert rcode(f"abc.{rid}-0-1.u.{ZONE}".replace("abc", "ab1!")) == RCODE.FORMERR
    assert rcode(f"abc.{rid}-5-3.u.{ZONE}") == RCODE.FORMERR
    assert rcode(f"abc.{rid}-0-999.u.{ZONE}") == RCODE.FORMERR
    assert rcode(f"{rid}-0.d.{ZONE}") == RCODE.NXDOMAIN
    assert rcode(ZONE, "SOA") == RCODE.NOERROR
    # Base32 that decodes to garbage: a whole request that is not a frame.
    assert rcode(f"{'a' * 60}.{rid}-0-1.u.{ZONE}") == RCODE.REFUSED
    # More data than a request may hold, announced in its fragment numbers.
    names = codec.upload_names(os.urandom(26_000), rid, ZONE)
    assert len(names) <= codec.MAX_FRAGMENTS
    assert all(rcode(name) == RCODE.NOERROR for name in names[:-1])
    assert rcode(names[-1]) == RCODE.REFUSED
    # Not DNS at all, a truncated header, a reply sent to us: no crash.
    for junk in (b"\x00", os.urandom(40), b"\x12\x34" + bytes(10)):
        answer = resolver.exchange(junk)
        if answer is not None:
            assert DNSRecord.parse(answer).header.rcode in (RCODE.FORMERR, RCODE.NOERROR)
    doh_junk = urllib.request.Request(
        f"{live_server_daphne.url}/dns-query", data=b"junk", headers={"Content-Type": "text/plain"}
    )
    with pytest.raises(urllib.error.HTTPError) as wrong_type:
        urllib.request.urlopen(doh_junk, timeout=10)
    assert wrong_type.value.code == 415
    assert json.loads(wrong_type.value.read())["error"]["code"] == "unsupported_media_type"
    with pytest.raises(urllib.error.HTTPError) as bad_param:
        urllib.request.urlopen(f"{live_server_daphne.url}/dns-query?dns=%%%", timeout=10)
    assert bad_param.value.code == 400
    # Still answering.
    assert rcode(f"{rid}-0.d.{ZONE}") == RCODE.NXDOMAIN
    assert dns_gateway.process.poll() is None


def test_half_received_requests_expire_and_a_missing_fragment_is_reported(
    make_account, live_server_daphne, dns_gateway
) -> None:
    alice = make_account()
    client = tunnel(udp(dns_gateway), live_server_daphne, alice.token)
    frame, counter = client.seal({"op": "sync", "cursor": 0, "padding": "x" * 400})
    rid = new_rid()
    names = codec.upload_names(frame, rid, ZONE)
    assert len(names) >= 3
    # Only the first fragment and the last: the gateway keeps what it got, with an expiry.
    assert client.resolver.txt(names[0]) == ["ok"]
    assert client.resolver.txt(names[-1]) == ["missing"]
    redis = Redis.from_url(settings.CACHES["default"]["LOCATION"])
    kept = redis.keys(f"*tunnel:frag:{rid}:*")
    assert len(kept) == 2
    assert all(0 < redis.ttl(key) <= settings.TALKEE_TUNNEL_FRAGMENT_TTL_SECONDS for key in kept)
    # The rest arrives: the request completes, and its fragments are gone.
    for name in names[1:-1]:
        assert client.resolver.txt(name) == ["ok"]
    _, total, first = codec.parse_txt(client.resolver.txt(names[-1]))
    chunks = [first] + [
        codec.parse_txt(client.resolver.txt(codec.download_name(rid, n, ZONE)))[2] for n in range(1, total)
    ]
    assert json.loads(client.session.open_reply(b"".join(chunks), counter))["status"] == 200
    assert redis.keys(f"*tunnel:frag:{rid}:*") == []
    # A resolver retrying the last query gets the same answer, not a second run.
    assert codec.parse_txt(client.resolver.txt(names[-1]))[2] == first


def test_names_logs_and_database_hold_no_plaintext_or_token(make_account, live_server_daphne, dns_gateway) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    client = tunnel(udp(dns_gateway), live_server_daphne, alice.token)
    marker = b"tunnel-privacy-marker-" + uuid.uuid4().hex.encode()
    cmid = "cmid-" + uuid.uuid4().hex
    status, _ = client.call(send_op(chat["id"], marker, cmid))
    assert status == 201
    # What a resolver on the way saw: every query and every answer.
    seen = b"".join(client.resolver.sent)
    for secret in (marker, b64(marker).encode(), alice.token.encode(), cmid.encode(), chat["id"].encode()):
        assert secret not in seen
        assert secret.lower() not in seen.lower()
    logs = (dns_gateway.log() + live_server_daphne.log()).encode()
    dump = dump_database()
    for secret in (alice.token.encode(), codec.b32encode(b"\x01" + client.session.public).encode()[:40]):
        assert secret not in logs
        assert secret not in dump
    assert marker not in logs
    assert b64(marker).encode() not in logs
    assert ZONE.encode() not in logs.replace(b'"zone": "t.localhost"', b"")


def test_a_resolver_repeating_the_last_name_while_it_runs_always_gets_the_answer(
    make_account, live_server_daphne, dns_gateway
) -> None:
    """Resolvers retry a query that is slow to answer; a copy that lands while the request
    is being finished must get its answer too, never "missing" (seen through unbound)."""
    client = tunnel(udp(dns_gateway), live_server_daphne, make_account().token)
    for _ in range(4):
        frame, _ = client.seal({"op": "sync", "cursor": 0, "timeout": 0})
        rid = new_rid()
        names = codec.upload_names(frame, rid, ZONE)
        for name in names[:-1]:
            assert client.resolver.txt(name) == ["ok"]
        answers: list[list[str]] = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            copies = 30
            for _ in range(copies):  # ~0.1 s of retries, as a resolver on a busy path sends
                sock.sendto(bytes(DNSRecord.question(names[-1], "TXT").pack()), ("127.0.0.1", dns_gateway.port))
                time.sleep(0.003)
            for _ in range(copies):
                reply = DNSRecord.parse(sock.recv(65535))
                answers.append([s.decode() for s in reply.rr[0].rdata.data] if reply.rr else [])
        assert all(a and a[0].startswith("0/") for a in answers), [a[:1] for a in answers]
        assert len({tuple(a) for a in answers}) == 1, "one run, one answer"
