"""Pushes through the real app: sends over the API, a real Celery worker, and the push
service stand-in on loopback that verifies VAPID and decrypts every payload.

The coalescing window is TALKEE_PUSH_COALESCE_SECONDS (3 s): a message's push leaves
the worker about that long after the message.
"""

import asyncio
import json
import os
import secrets
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from apps.accounts.federation import remote_user
from apps.chats.models import Membership
from apps.federation.models import InboxEnvelope, OutboxEnvelope
from apps.federation.services import handle_inbox_rows
from apps.push.models import PushSubscription
from apps.push.webpush import PAYLOAD_BYTES
from tests.conftest import DeviceKeys, b64, login, make_chat, send, token_client
from tests.federation.conftest import PARTNER
from tests.messages.wsclient import SocketDevice
from tests.push.conftest import subscribe
from tests.push.standin import HANG, PushServiceStandIn

pytestmark = pytest.mark.django_db(transaction=True)

ENVELOPES = "/s2s/v1/envelopes"
WINDOW = settings.TALKEE_PUSH_COALESCE_SECONDS
QUIET = WINDOW + 3.0  # long enough for a push that was going to come


def payload(received: Any) -> dict[str, Any]:
    assert len(received.plaintext) == PAYLOAD_BYTES  # one size, whatever it says
    return dict(json.loads(received.plaintext))


def test_a_message_to_an_offline_device_is_one_push_that_says_nothing(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any
) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob, encrypted_name=b64(b"Secret Garden Club"))
    bob_phone = push_service.subscribe()
    subscribe(bob, bob_phone)
    # alice's own other device is subscribed too: she never gets pushed for her own messages
    second = login(token_client(""), alice.username, alice.password, DeviceKeys()).json()
    alice_tablet = push_service.subscribe()
    subscribe(SimpleNamespace(client=token_client(second["token"])), alice_tablet)

    plaintext = b"meet me at the old mill at midnight"
    assert send(alice, chat["id"], plaintext).status_code == 201
    pushes = push_service.wait_for(bob_phone, timeout=WINDOW + 15)
    time.sleep(QUIET)
    assert len(push_service.pushes_for(bob_phone)) == 1
    assert push_service.pushes_for(alice_tablet) == []
    assert push_service.refused == []

    push = pushes[0]
    assert payload(push) == {"v": 1, "kind": "message", "chat": chat["id"]}
    assert push.headers["urgency"] == "normal"
    assert int(push.headers["ttl"]) == settings.TALKEE_PUSH_MESSAGE_TTL_SECONDS
    assert chat["id"] not in push.headers["topic"] and chat["id"].replace("-", "") not in push.headers["topic"]
    assert push.claims["sub"] == settings.TALKEE_VAPID_SUBJECT
    # privacy: what the push service and the device see, and the worker's log
    visible = push.body + json.dumps(push.headers).encode() + push.plaintext
    for secret in (plaintext, alice.username.encode(), b"Secret Garden Club", bob.username.encode()):
        assert secret not in visible
    log = celery_worker.log_path.read_text(errors="replace")
    assert "push sent" in log
    for secret in (alice.username, bob.username, chat["id"], bob_phone.token, plaintext.decode()):
        assert secret not in log


def test_a_device_with_an_open_socket_gets_no_push(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any, live_server_daphne: Any
) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    chat = make_chat(alice, "group", bob, carol)
    bob_phone, carol_phone = push_service.subscribe(), push_service.subscribe()
    subscribe(bob, bob_phone)
    subscribe(carol, carol_phone)

    async def scenario() -> None:
        bob_socket = SocketDevice(live_server_daphne.ws_url, bob.token)
        await bob_socket.connect()
        await asyncio.to_thread(send, alice, chat["id"])
        await bob_socket.until(lambda f: f["type"] == "event")
        await asyncio.sleep(QUIET)
        await bob_socket.close()

    asyncio.run(scenario())
    assert len(push_service.wait_for(carol_phone)) == 1  # the offline member was pushed
    assert push_service.pushes_for(bob_phone) == []


def test_a_muted_chat_gets_no_message_push_but_a_call_still_rings(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any, live_server_daphne: Any
) -> None:
    alice, bob = make_account(), make_account()
    muted = make_chat(alice, "direct", bob)
    other = make_chat(alice, "group", bob)
    bob_phone = push_service.subscribe()
    subscribe(bob, bob_phone)
    assert bob.client.put(f"/v1/push/mutes/{muted['id']}", {"always": True}, format="json").status_code == 200

    send(alice, muted["id"])
    time.sleep(QUIET)
    assert push_service.pushes_for(bob_phone) == []
    send(alice, other["id"])
    assert payload(push_service.wait_for(bob_phone)[0])["chat"] == other["id"]

    async def ring() -> None:
        caller = SocketDevice(live_server_daphne.ws_url, alice.token)
        await caller.connect()
        await caller.send({"type": "call", "chat_id": muted["id"], "payload": b64(os.urandom(300))})
        await asyncio.sleep(0.5)
        await caller.close()

    started = time.monotonic()
    asyncio.run(ring())
    pushes = push_service.wait_for(bob_phone, count=2)
    call = pushes[1]
    assert call.at - started < WINDOW  # a call is not held back by the message window
    assert payload(call) == {"v": 1, "kind": "call", "chat": muted["id"]}
    assert call.headers["urgency"] == "high"
    assert int(call.headers["ttl"]) == settings.TALKEE_PUSH_CALL_TTL_SECONDS


def test_a_burst_of_fifty_messages_is_one_push(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any
) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    bob_phone = push_service.subscribe()
    subscribe(bob, bob_phone)
    started = time.monotonic()
    for _ in range(50):
        assert send(alice, chat["id"]).status_code == 201
    took = time.monotonic() - started
    push_service.wait_for(bob_phone)
    time.sleep(QUIET)
    bound = 1 + int(took // WINDOW)  # one per window; the burst normally fits in one
    assert 1 <= len(push_service.pushes_for(bob_phone)) <= bound, (took, len(push_service.pushes_for(bob_phone)))


def test_gone_subscriptions_are_deleted(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any
) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    chat = make_chat(alice, "group", bob, carol)
    bob_phone, carol_phone = push_service.subscribe(410), push_service.subscribe(404)
    subscribe(bob, bob_phone)
    subscribe(carol, carol_phone)
    send(alice, chat["id"])
    push_service.wait_for(bob_phone, status=410)
    push_service.wait_for(carol_phone, status=404)
    deadline = time.monotonic() + 10
    while PushSubscription.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not PushSubscription.objects.exists()
    send(alice, chat["id"])
    time.sleep(QUIET)
    assert len(push_service.pushes_for(bob_phone)) == 1 and len(push_service.pushes_for(carol_phone)) == 1


def test_429_is_retried_after_the_delay_and_500_with_backoff(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any
) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    chat = make_chat(alice, "group", bob, carol)
    bob_phone = push_service.subscribe((429, {"Retry-After": "3"}))
    carol_phone = push_service.subscribe(500, 503)
    subscribe(bob, bob_phone)
    subscribe(carol, carol_phone)
    send(alice, chat["id"])
    delivered = push_service.wait_for(bob_phone, timeout=WINDOW + 20)[0]
    refused = push_service.pushes_for(bob_phone, 429)[0]
    assert delivered.at - refused.at >= 2.9  # Retry-After honoured
    push_service.wait_for(carol_phone, timeout=WINDOW + 20)
    assert [r.status for r in push_service.pushes_for(carol_phone)] == [500, 503, 201]
    assert PushSubscription.objects.count() == 2


def test_a_push_service_that_never_answers_delays_no_message(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any, live_server_daphne: Any
) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    chat = make_chat(alice, "group", bob, carol)
    bob_phone = push_service.subscribe(HANG, HANG)
    subscribe(bob, bob_phone)
    other = make_chat(alice, "direct", carol)

    async def scenario() -> list[float]:
        carol_socket = SocketDevice(live_server_daphne.ws_url, carol.token)
        await carol_socket.connect()
        await asyncio.to_thread(send, alice, chat["id"])  # bob's push will hang
        await asyncio.sleep(WINDOW + 1)  # the worker is now stuck on the hanging service
        delays = []
        for target in (chat["id"], other["id"]):
            started = time.monotonic()
            response = await asyncio.to_thread(send, alice, target)
            assert response.status_code == 201
            marker = response.json()["id"]
            await carol_socket.until(lambda f, m=marker: f["type"] == "event" and f["message"]["id"] == m)
            delays.append(time.monotonic() - started)
        await carol_socket.close()
        return delays

    delays = asyncio.run(scenario())
    assert max(delays) < settings.TALKEE_PUSH_TIMEOUT_SECONDS, delays  # none waited for the hanging push
    assert len(push_service.pushes_for(bob_phone, 0)) >= 1  # the hanging request did happen
    # after the timeouts, the retry gets through
    push_service.wait_for(bob_phone, timeout=settings.TALKEE_PUSH_TIMEOUT_SECONDS * 2 + 20)


def test_a_chat_reference_is_opaque_per_device(make_account: Any) -> None:
    from apps.push.webpush import topic_for

    chat_id = str(uuid.uuid4())
    first, second = topic_for(1, "message", chat_id), topic_for(2, "message", chat_id)
    assert first != second and len(first) == 32
    assert topic_for(1, "call", chat_id) != first


def test_being_added_to_a_chat_is_pushed_like_a_message(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any
) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group")
    bob_phone = push_service.subscribe()
    subscribe(bob, bob_phone)
    added = alice.client.post(f"/v1/chats/{chat['id']}/members", {"users": [bob.address]}, format="json")
    assert added.status_code in (200, 201), added.content
    welcome = {"device_ids": [bob.device_id], "payload": b64(os.urandom(500))}
    response = send(alice, chat["id"], kind="commit", epoch=0, welcome=welcome)
    assert response.status_code == 201, response.content
    [push] = push_service.wait_for(bob_phone)
    assert payload(push) == {"v": 1, "kind": "message", "chat": chat["id"]}
    time.sleep(QUIET)
    assert len(push_service.pushes_for(bob_phone)) == 1


def test_without_a_broker_pushes_run_on_a_background_thread(
    make_account: Any, push_service: PushServiceStandIn, settings: Any
) -> None:
    """The embedded default (`make run`, tasks inline): same path, off the request thread."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    alice, bob, carol = make_account(), make_account(), make_account()
    chat = make_chat(alice, "group", bob, carol)
    bob_phone, carol_phone = push_service.subscribe(), push_service.subscribe(HANG)
    subscribe(bob, bob_phone)
    subscribe(carol, carol_phone)
    started = time.monotonic()
    for _ in range(5):
        assert send(alice, chat["id"]).status_code == 201
    # Carol's hanging push service holds up no send: one that waited on it would take the
    # push timeout at least (a bound tied to the behaviour, not to this machine's speed).
    assert time.monotonic() - started < settings.TALKEE_PUSH_TIMEOUT_SECONDS
    [push] = push_service.wait_for(bob_phone)
    assert payload(push) == {"v": 1, "kind": "message", "chat": chat["id"]}
    time.sleep(QUIET)
    assert len(push_service.pushes_for(bob_phone)) == 1
    assert len(push_service.pushes_for(carol_phone, 0)) >= 1


def _tasks_received(log_path: Any, name: str, offset: int) -> int:
    """How many `name` tasks the worker took from the broker since `offset` of its log."""
    with open(log_path, "rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return sum(1 for line in text.splitlines() if f"Task {name}[" in line and "received" in line)


def test_a_calls_burst_of_signals_queues_one_task_and_a_new_call_rings_at_once(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any, live_server_daphne: Any
) -> None:
    alice, bob = make_account(), make_account()
    direct = make_chat(alice, "direct", bob)
    group = make_chat(alice, "group", bob)
    bob_phone = push_service.subscribe()
    subscribe(bob, bob_phone)
    repeat = settings.TALKEE_PUSH_CALL_REPEAT_SECONDS
    offset = celery_worker.log_path.stat().st_size

    async def signals(chat_id: str, count: int) -> None:
        caller = SocketDevice(live_server_daphne.ws_url, alice.token)
        await caller.connect()
        for _ in range(count):  # an offer and its ICE candidates: opaque to the server
            await caller.send({"type": "call", "chat_id": chat_id, "payload": b64(os.urandom(200))})
        await asyncio.sleep(0.5)
        await caller.close()

    started = time.monotonic()
    asyncio.run(signals(direct["id"], 40))
    [first] = push_service.wait_for(bob_phone)
    assert first.at - started < WINDOW
    assert payload(first) == {"v": 1, "kind": "call", "chat": direct["id"]}
    # a new call in another chat rings at once, though the first one's guard still holds
    started = time.monotonic()
    asyncio.run(signals(group["id"], 10))
    second = push_service.wait_for(bob_phone, count=2)[1]
    assert second.at - started < WINDOW
    assert payload(second)["chat"] == group["id"]
    time.sleep(repeat + 1)
    name = "apps.push.tasks.notify_chat"
    assert _tasks_received(celery_worker.log_path, name, offset) == 2  # 50 signals, two tasks
    assert len(push_service.pushes_for(bob_phone)) == 2
    # once the guard ran out, the next call in the first chat rings at once again
    started = time.monotonic()
    asyncio.run(signals(direct["id"], 10))
    third = push_service.wait_for(bob_phone, count=3)[2]
    assert third.at - started < WINDOW
    assert payload(third)["chat"] == direct["id"]
    assert _tasks_received(celery_worker.log_path, name, offset) == 3


def deliver_envelope(partner: Any, kind: str, body: dict[str, Any]) -> None:
    """POST one envelope signed by the stand-in peer and handle it, as the inbox task does."""
    raw = json.dumps({"envelopes": [{"txn_id": secrets.token_urlsafe(12), "kind": kind, "body": body}]}).encode()
    answer = Client().post(ENVELOPES, raw, content_type="application/json", **partner.headers("POST", ENVELOPES, raw))
    assert answer.status_code == 202, answer.content
    row = InboxEnvelope.objects.order_by("-pk").first()
    assert row is not None
    handle_inbox_rows([row.pk])
    row.refresh_from_db()
    assert row.handled_at is not None and row.error == "", row.error


def test_a_call_from_another_instance_rings_the_offline_callee_like_a_local_one(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any, partner: Any
) -> None:
    """dave@partner.test calls bob here: his instance relays the sealed signals as `call`
    envelopes; bob's closed app gets one high-urgency, short-lived `call` push."""
    bob, carol = make_account(), make_account()
    chat = make_chat(bob, "group", carol)
    Membership.objects.create(chat_id=chat["id"], user=remote_user(f"dave@{PARTNER}"))
    bob_phone, carol_phone = push_service.subscribe(), push_service.subscribe()
    subscribe(bob, bob_phone)
    subscribe(carol, carol_phone)
    assert carol.client.put(f"/v1/push/mutes/{chat['id']}", {"always": True}, format="json").status_code == 200
    offset = celery_worker.log_path.stat().st_size

    started = time.monotonic()
    for _ in range(8):  # the offer and its candidates, each an envelope
        deliver_envelope(partner, "call", {"chat_id": chat["id"], "payload": b64(os.urandom(200))})
    [push] = push_service.wait_for(bob_phone)
    assert push.at - started < WINDOW + 2
    assert payload(push) == {"v": 1, "kind": "call", "chat": chat["id"]}
    assert push.headers["urgency"] == "high"
    assert int(push.headers["ttl"]) == settings.TALKEE_PUSH_CALL_TTL_SECONDS
    assert len(push_service.wait_for(carol_phone)) == 1  # a muted chat still rings for a call
    time.sleep(QUIET)
    assert len(push_service.pushes_for(bob_phone)) == 1
    assert _tasks_received(celery_worker.log_path, "apps.push.tasks.notify_chat", offset) == 1
    log = celery_worker.log_path.read_text(errors="replace")[offset:]
    for secret in (bob.username, chat["id"], bob_phone.token, PARTNER):
        assert secret not in log


def test_a_mention_crosses_instances_only_to_the_mentioned_users_instance(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any, partner: Any
) -> None:
    """Out: a message ordered here names, to the partner, only the partner's users it
    mentions. In: a message the partner ordered wakes the local user it mentions where he
    muted the chat."""
    alice, bob = make_account(), make_account()
    dave = f"dave@{PARTNER}"
    remote_user(dave)
    here = make_chat(alice, "group", bob)
    assert alice.client.post(f"/v1/chats/{here['id']}/members", {"users": [dave]}, format="json").status_code < 300
    assert send(alice, here["id"], wake=[dave, bob.address]).status_code == 201
    sent = [e.body for e in OutboxEnvelope.objects.filter(destination=PARTNER, kind="message")]
    assert [b.get("wake") for b in sent if b.get("op") == "deliver"] == [[dave]]

    chat_id = str(uuid.uuid4())
    members = [{"user": u, "role": r, "joined_seq": 0} for u, r in ((dave, "owner"), (bob.address, "member"))]
    deliver_envelope(
        partner,
        "membership",
        {
            "op": "snapshot",
            "chat": {"id": chat_id, "kind": "group", "epoch": 0, "next_seq": 1, "name_epoch": 0},
            "members": members,
        },
    )
    time.sleep(QUIET)  # "added to a chat" is pushed like a message: let that window pass first
    phone = push_service.subscribe()
    subscribe(bob, phone)
    assert bob.client.put(f"/v1/push/mutes/{chat_id}", {"always": True}, format="json").status_code == 200
    for seq, wake in ((1, None), (2, [bob.address])):
        body = {
            "op": "deliver",
            "chat_id": chat_id,
            "seq": seq,
            "epoch": 0,
            "kind": "application",
            "client_message_id": uuid.uuid4().hex,
            "ciphertext": b64(os.urandom(64)),
        }
        deliver_envelope(partner, "message", {**body, "wake": wake} if wake else body)
        if wake is None:
            time.sleep(QUIET)
            assert push_service.pushes_for(phone) == []  # muted, and nobody mentioned him
    assert payload(push_service.wait_for(phone, timeout=WINDOW + 15)[0]) == {
        "v": 1,
        "kind": "mention",
        "chat": chat_id,
    }


def test_being_added_or_removed_by_someone_else_is_pushed_and_nothing_else_about_members(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any
) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    second = login(token_client(""), alice.username, alice.password, DeviceKeys()).json()
    alice_tablet, bob_phone, carol_phone = push_service.subscribe(), push_service.subscribe(), push_service.subscribe()
    subscribe(SimpleNamespace(client=token_client(second["token"])), alice_tablet)
    subscribe(bob, bob_phone)
    subscribe(carol, carol_phone)

    chat = make_chat(alice, "group", carol, encrypted_name=b64(b"Night Shift Union"))
    [created] = push_service.wait_for(carol_phone)  # carol was put in a new chat
    assert payload(created) == {"v": 1, "kind": "message", "chat": chat["id"]}
    added = alice.client.post(f"/v1/chats/{chat['id']}/members", {"users": [bob.address]}, format="json")
    assert added.status_code in (200, 201), added.content
    [joined] = push_service.wait_for(bob_phone)
    assert payload(joined) == {"v": 1, "kind": "message", "chat": chat["id"]}
    time.sleep(QUIET)  # the next change opens a new window

    removed = alice.client.delete(f"/v1/chats/{chat['id']}/members/{bob.address}")
    assert removed.status_code == 204, removed.content
    left = push_service.wait_for(bob_phone, count=2)[1]
    assert payload(left) == {"v": 1, "kind": "message", "chat": chat["id"]}  # the same opaque reference
    assert carol.client.delete(f"/v1/chats/{chat['id']}/members/{carol.address}").status_code == 204
    time.sleep(QUIET)
    # the creator's own device, a member who saw others come and go, and one who left
    # of her own accord hear nothing of it
    assert push_service.pushes_for(alice_tablet) == []
    assert len(push_service.pushes_for(carol_phone)) == 1
    assert len(push_service.pushes_for(bob_phone)) == 2
    assert push_service.refused == []
    for push in push_service.received:
        visible = push.body + json.dumps(push.headers).encode() + push.plaintext
        for secret in (b"Night Shift Union", alice.username.encode(), bob.username.encode(), carol.username.encode()):
            assert secret not in visible
    log = celery_worker.log_path.read_text(errors="replace")
    for secret in (alice.username, bob.username, carol.username, chat["id"]):
        assert secret not in log


def test_a_mention_wakes_a_device_that_muted_the_chat_unless_it_chose_otherwise(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any
) -> None:
    alice, bob, carol, dave = make_account(), make_account(), make_account(), make_account()
    outsider = make_account()
    chat = make_chat(alice, "group", bob, carol, dave)
    phones = {who: push_service.subscribe() for who in ("bob", "carol", "dave", "outsider")}
    for who, account in (("bob", bob), ("carol", carol), ("dave", dave), ("outsider", outsider)):
        subscribe(account, phones[who])
    for account in (bob, carol, dave):
        assert account.client.put(f"/v1/push/mutes/{chat['id']}", {"always": True}, format="json").status_code == 200
    # dave chose that mentions do not wake him in chats he muted
    answer = dave.client.put("/v1/push/preferences", {"mentions_when_muted": False}, format="json")
    assert answer.status_code == 200

    plaintext = b"@bob @dave the keys are under the mat"
    wake = [bob.address, dave.address, outsider.address, "nobody@elsewhere.test"]
    assert send(alice, chat["id"], plaintext, wake=wake).status_code == 201
    push = push_service.wait_for(phones["bob"], timeout=WINDOW + 15)[0]
    time.sleep(QUIET)
    assert payload(push) == {"v": 1, "kind": "mention", "chat": chat["id"]}
    assert push.headers["urgency"] == "normal"
    for quiet in ("carol", "dave", "outsider"):  # muted and not mentioned; chose so; not a member
        assert push_service.pushes_for(phones[quiet]) == [], quiet
    # a message without a wake list stays as quiet as a muted chat should be
    assert send(alice, chat["id"]).status_code == 201
    time.sleep(QUIET)
    assert len(push_service.pushes_for(phones["bob"])) == 1
    # the mention was used for the push and forgotten: nothing stored or logged names it
    from apps.messages.models import Message

    stored = b"".join(bytes(m.ciphertext) for m in Message.objects.filter(chat_id=chat["id"]))
    assert plaintext in stored  # the test's "ciphertext" is the text itself: the scan below is not vacuous
    log = celery_worker.log_path.read_text(errors="replace")
    for secret in (bob.address, dave.address, bob.username):
        assert secret not in log
        assert secret.encode() not in push.body + push.plaintext


def test_a_mention_in_a_chat_that_is_not_muted_says_mention_and_bad_wake_lists_are_refused(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any
) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    phone = push_service.subscribe()
    subscribe(bob, phone)
    for bad in ("bob", [1], ["no-domain"], ["a b@c"], [bob.address] * 51):
        answer = send(alice, chat["id"], wake=bad)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_input", bad
    time.sleep(QUIET)
    assert push_service.pushes_for(phone) == []  # nothing refused was stored or pushed
    assert send(alice, chat["id"], wake=[bob.address]).status_code == 201
    assert payload(push_service.wait_for(phone, timeout=WINDOW + 15)[0])["kind"] == "mention"
    # the next window's message mentions nobody: a plain message push again
    assert send(alice, chat["id"]).status_code == 201
    time.sleep(QUIET)
    assert [payload(p)["kind"] for p in push_service.pushes_for(phone)] == ["mention", "message"]


def test_a_member_change_in_a_muted_chat_is_not_pushed(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any
) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    bob_phone = push_service.subscribe()
    subscribe(bob, bob_phone)  # after the chat's creation: that one is not pushed
    assert bob.client.put(f"/v1/push/mutes/{chat['id']}", {"always": True}, format="json").status_code == 200
    assert alice.client.delete(f"/v1/chats/{chat['id']}/members/{bob.address}").status_code == 204
    time.sleep(QUIET)
    assert push_service.pushes_for(bob_phone) == []


def test_a_device_that_chose_so_is_not_rung_in_a_muted_chat(
    make_account: Any, push_service: PushServiceStandIn, celery_worker: Any, live_server_daphne: Any
) -> None:
    alice, bob = make_account(), make_account()
    muted, other = make_chat(alice, "direct", bob), make_chat(alice, "group", bob)
    second = login(token_client(""), bob.username, bob.password, DeviceKeys()).json()
    bob_tablet = SimpleNamespace(client=token_client(second["token"]))
    bob_phone, tablet = push_service.subscribe(), push_service.subscribe()
    subscribe(bob, bob_phone)
    subscribe(bob_tablet, tablet)
    for device in (bob, bob_tablet):  # both muted the chat; only the phone silences calls in it
        assert device.client.put(f"/v1/push/mutes/{muted['id']}", {"always": True}, format="json").status_code == 200
    assert bob.client.put("/v1/push/preferences", {"calls_when_muted": False}, format="json").status_code == 200

    async def ring(chat_id: str) -> None:
        caller = SocketDevice(live_server_daphne.ws_url, alice.token)
        await caller.connect()
        await caller.send({"type": "call", "chat_id": chat_id, "payload": b64(os.urandom(300))})
        await asyncio.sleep(0.5)
        await caller.close()

    asyncio.run(ring(muted["id"]))
    assert payload(push_service.wait_for(tablet)[0]) == {"v": 1, "kind": "call", "chat": muted["id"]}
    time.sleep(2.0)
    assert push_service.pushes_for(bob_phone) == []
    asyncio.run(ring(other["id"]))  # a chat the phone did not mute rings there
    assert payload(push_service.wait_for(bob_phone)[0]) == {"v": 1, "kind": "call", "chat": other["id"]}
