"""The tunnel through a real recursive resolver: Debian's `unbound`, started on loopback
with a stub zone that delegates the tunnel zone to the gateway (directly, or through a
relay that drops and truncates answers). The clients are given only unbound's address.
Two people write to each other both ways; every message arrives once, in order. A greedy
session held back by its own rate does not hold back the others behind the same unbound."""

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
from dnslib import RCODE

from tests.conftest import make_chat
from tests.support.dns import FaultyRelay, gateway, unbound
from tests.transport.tunnelclient import ZONE, DnsError, Resolver, TunnelClient, send_op, tunnel

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = 6


def _receive(client: TunnelClient, cursor: int, want: int) -> tuple[list[bytes], int]:
    """Sync (and ack) through the tunnel until `want` messages have come; bounded."""
    got: list[bytes] = []
    for _ in range(4 * want + 4):
        status, page = client.call({"op": "sync", "cursor": cursor, "timeout": 0})
        assert status == 200, page
        got += [base64.b64decode(e["message"]["ciphertext"]) for e in page["events"] if e["type"] == "event"]
        if page["cursor"] != cursor:
            cursor = page["cursor"]
            assert client.call({"op": "ack", "cursor": cursor})[0] == 200
        if len(got) >= want:
            break
    return got, cursor


def _conversation(make_account: Any, server: Any, resolver_address: tuple[str, int]) -> None:
    """Alice and Bob, each with a tunnel client that knows only the resolver, take turns:
    every message comes out at the other end once, in the order it was sent."""
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)

    def resolver() -> Resolver:
        return Resolver("udp", resolver_address, attempts=8, timeout=3.0)

    alice_dns, bob_dns = tunnel(resolver(), server, alice.token), tunnel(resolver(), server, bob.token)
    run = uuid.uuid4().hex[:8]
    sent = {"alice": [], "bob": []}  # type: dict[str, list[bytes]]
    got = {"alice": [], "bob": []}  # type: dict[str, list[bytes]]
    cursors = {"alice": 0, "bob": 0}
    for n in range(MESSAGES):
        for me, client in (("alice", alice_dns), ("bob", bob_dns)):
            text = f"{run} {me} #{n} ".encode() + bytes(range(n * 40 % 200))  # sizes vary: 1 to 3 fragments
            status, _ = client.call(send_op(chat["id"], text))
            assert status == 201, "a retried request must not store a message twice (200 = a duplicate)"
            sent[me].append(text)
        for me, client in (("alice", alice_dns), ("bob", bob_dns)):
            other = "bob" if me == "alice" else "alice"
            # Each also sees its own messages in the chat's stream: keep the other's only.
            page, cursors[me] = _receive(client, cursors[me], 2)
            got[me] += [m for m in page if m.startswith(f"{run} {other} ".encode())]
    assert got["bob"] == sent["alice"]
    assert got["alice"] == sent["bob"]
    # Nothing more was waiting: no duplicate came late.
    for me, client in (("alice", alice_dns), ("bob", bob_dns)):
        status, page = client.call({"op": "sync", "cursor": cursors[me], "timeout": 0})
        assert [e for e in page["events"] if e["type"] == "event"] == []


def test_two_people_chat_through_unbound_only(make_account, live_server_daphne, tmp_path: Path) -> None:
    with gateway(tmp_path) as running, unbound(tmp_path, ZONE, running.port) as resolver:
        _conversation(make_account, live_server_daphne, resolver.address)
        assert running.process.poll() is None and resolver.process.poll() is None, resolver.log()


def test_through_unbound_with_lost_and_truncated_answers_0x20_names_and_a_sticky_cache(
    make_account, live_server_daphne, tmp_path: Path
) -> None:
    with (
        gateway(tmp_path) as running,
        FaultyRelay(running.port, drop=0.10, truncate=0.10) as relay,
        unbound(tmp_path, ZONE, relay.port, caps_for_id=True, cache_min_ttl=300) as resolver,
    ):
        _conversation(make_account, live_server_daphne, resolver.address)
        # The faults really happened: answers lost, answers truncated and fetched again over TCP.
        assert relay.counts["dropped"] >= 3, relay.counts
        assert relay.counts["truncated"] >= 3, relay.counts
        assert relay.counts["tcp"] >= 1, relay.counts
        assert relay.counts["mixed_case"] > relay.counts["udp"] // 2, "unbound randomised the names' case"
        assert running.process.poll() is None and resolver.process.poll() is None, resolver.log()


def test_a_greedy_session_held_back_does_not_hold_back_the_others_behind_unbound(
    make_account, live_server_daphne, tmp_path: Path
) -> None:
    env = {"TALKEE_TUNNEL_SESSION_RATE": "30/hour", "CACHE_KEY_PREFIX": f"rs-{uuid.uuid4().hex[:8]}"}
    owner, greedy_person, *people = (make_account() for _ in range(4))
    chat = make_chat(owner, "group", greedy_person, *people)
    with gateway(tmp_path, env) as running, unbound(tmp_path, ZONE, running.port) as resolver:

        def client(token: str) -> TunnelClient:
            return tunnel(Resolver("udp", resolver.address, attempts=1, timeout=5.0), live_server_daphne, token)

        greedy = client(greedy_person.token)
        answered: list[int] = []
        with pytest.raises(DnsError) as held_back:
            for _ in range(30):
                answered.append(greedy.call({"op": "sync", "cursor": 0})[0])
        assert len(answered) > 3 and set(answered) == {200}
        # The gateway said REFUSED; unbound tells its client SERVFAIL (it found no server that
        # would answer) — and goes on asking the gateway for everyone else.
        assert held_back.value.rcode == RCODE.SERVFAIL
        for person in people:
            me = client(person.token)
            assert me.call(send_op(chat["id"], b"still here"))[0] == 201
            assert me.call({"op": "sync", "cursor": 0})[0] == 200
        with pytest.raises(DnsError):
            greedy.call({"op": "sync", "cursor": 0})
        assert resolver.process.poll() is None
