"""A peer that accepts the connection and then never answers holds up nothing but its own
envelopes: no request to a peer runs while a transaction or a row lock is open, so sends
and edits in local chats, and deliveries to other peers, go on while the call hangs."""

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from blake3 import blake3
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

from apps.accounts.models import User
from apps.chats.models import Chat, Membership
from apps.federation.models import InboxEnvelope, OutboxEnvelope
from apps.federation.services import deliver_to, handle_inbox_rows
from tests.conftest import b64, make_chat, send
from tests.federation.conftest import PARTNER

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

HUNG = "hung.test"
# What "not held up" means here; the hung call itself is held open far longer (its
# request times out after 30 s, or when the test closes the connection).
BOUND_SECONDS = 3.0


class HungPeer:
    """Accepts TCP connections and never answers a byte, until closed."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.accepted = threading.Event()
        self.connections: list[socket.socket] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.stopped.set()
        for conn in self.connections:
            conn.close()
        self.listener.close()


@pytest.fixture
def hung(partner: Any) -> Iterator[HungPeer]:
    peer = HungPeer()
    hosts = {PARTNER: f"127.0.0.1:{partner.port}", HUNG: f"127.0.0.1:{peer.port}"}
    with override_settings(TALKEE_FEDERATION_HOSTS=hosts):
        yield peer
    peer.close()


def in_thread(work: Callable[[], object]) -> tuple[threading.Thread, dict[str, object]]:
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:  # reported by the test
            result["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def open_transactions_and_outbox_locks() -> tuple[int, int]:
    """Other sessions of this database sitting in an open transaction, and locks other
    sessions hold on the outbox table (a request in flight must hold neither)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%%'"
        )
        (idle,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE pid <> pg_backend_pid() "
            "AND relation = 'federation_outboxenvelope'::regclass"
        )
        (locks,) = cursor.fetchone()
    return idle, locks


def timed(action: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    value = action()
    return value, time.monotonic() - started


def outbox_row(destination: str, n: int) -> OutboxEnvelope:
    """A queued envelope, as queue_envelope stores it but without its after-commit task: that
    task would send this run's Celery worker (which knows neither peer) to race the delivery
    this test makes itself, and back the row off when it fails to find the peer."""
    return OutboxEnvelope.objects.create(
        destination=destination,
        txn_id=secrets.token_urlsafe(24),
        kind="ping",
        body={"n": n},
        next_attempt_at=timezone.now(),
    )


def test_a_delivery_to_a_hung_peer_holds_up_no_one_else(hung, partner, make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    outbox_row(HUNG, 0)
    delivery, outcome = in_thread(lambda: deliver_to(HUNG))
    try:
        assert hung.accepted.wait(10), "the delivery never reached the hung peer"
        time.sleep(0.3)  # the request is written; the peer says nothing
        assert delivery.is_alive(), "the hung call is still in flight"
        assert open_transactions_and_outbox_locks() == (0, 0), "a transaction or row lock is open across the call"

        # a send and an edit in a local chat
        secret = os.urandom(32)
        answer, took = timed(lambda: send(alice, chat["id"], b"hello", edit_hash=b64(blake3(secret).digest())))
        assert answer.status_code == 201 and took < BOUND_SECONDS, (answer.status_code, took)
        message_id = answer.json()["id"]
        edit = {"edit_secret": b64(secret), "ciphertext": b64(b"hello again")}
        answer, took = timed(lambda: alice.client.patch(f"/v1/messages/{message_id}", edit, format="json"))
        assert answer.status_code == 200 and took < BOUND_SECONDS, (answer.status_code, took)
        history = bob.client.get(f"/v1/chats/{chat['id']}/messages").json()["messages"]
        assert [m["edited_at"] is not None for m in history] == [True]

        # a delivery to another peer
        outbox_row(PARTNER, 1)
        delivered, took = timed(lambda: deliver_to(PARTNER))
        assert delivered == 1 and took < BOUND_SECONDS, (delivered, took)
        assert len(partner.requests) == 1

        # another worker leaves the batch in flight alone (one batch per peer at a time)
        again, took = timed(lambda: deliver_to(HUNG))
        assert again == 0 and took < BOUND_SECONDS
        assert delivery.is_alive(), "the hung call was still in flight all along"
    finally:
        hung.close()
        delivery.join(40)
    assert outcome.get("value") == 0, outcome
    (row,) = OutboxEnvelope.objects.filter(destination=HUNG)
    assert row.delivered_at is None and row.attempts == 1 and row.last_error.startswith("unreachable")


def test_an_inbox_lookup_at_a_hung_peer_holds_up_no_local_send(hung, partner, make_account) -> None:
    """A member of `partner.test` (an admin of a chat homed here) asks to add someone who
    lives on the hung peer: the lookup of that person hangs — sends in the chat go on."""
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    dave = User.objects.create(username=f"dave@{PARTNER}", domain=PARTNER)
    Membership.objects.create(chat_id=chat["id"], user=dave, role=Membership.Role.ADMIN)
    Chat.objects.filter(pk=chat["id"]).update(federated=True)
    row = InboxEnvelope.objects.create(
        origin=PARTNER,
        txn_id=secrets.token_urlsafe(12),
        kind="membership",
        body={
            "op": "request",
            "chat_id": chat["id"],
            "actor": dave.username,
            "action": "add",
            "users": [f"erin@{HUNG}"],
            "role": "member",
        },
    )
    handling, _ = in_thread(lambda: handle_inbox_rows([row.pk]))
    try:
        assert hung.accepted.wait(10), "the lookup never reached the hung peer"
        time.sleep(0.3)
        assert handling.is_alive(), "the lookup is still in flight"
        answer, took = timed(lambda: send(bob, chat["id"], b"still here"))
        assert answer.status_code == 201 and took < BOUND_SECONDS, (answer.status_code, took)
        history = alice.client.get(f"/v1/chats/{chat['id']}/messages").json()["messages"]
        assert len(history) == 1
        assert handling.is_alive(), "the lookup was still in flight all along"
    finally:
        hung.close()
        handling.join(40)
    row.refresh_from_db()
    assert row.handled_at is not None and "peer_unreachable" in row.error
    assert not Membership.objects.filter(chat_id=chat["id"], user__username=f"erin@{HUNG}").exists()
