"""Cross-instance chats between real instances over mutual TLS: A (this test's database, a
live daphne, its s2s listener on 127.0.0.2 and the real Celery worker) and B (`b.test`: its
own daphne, s2s listener and Celery worker on 127.0.0.3, its own PostgreSQL database, key
and certificate), C (`c.test`, the same on 127.0.0.4) for groups. alice@A and bob@B share
chats; A (the creator's instance) orders them; each side's devices get the same frames as
for a local chat."""

import asyncio
import base64
import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from blake3 import blake3
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from apps.federation.models import OutboxEnvelope
from apps.federation.tasks import sweep_outbox
from tests.conftest import (
    FEDERATION_B,
    FEDERATION_C,
    FEDERATION_C_PORT,
    FEDERATION_C_S2S_PORT,
    FEDERATION_HOSTS,
    DeviceKeys,
    LiveServer,
    b64,
    fake_keypackage,
    send,
)
from tests.federation.conftest import S2sListener
from tests.federation.pki import Pki
from tests.messages.wsclient import SocketDevice
from tests.support.federation import (
    InstanceB,
    RemoteAccount,
    a_database,
    all_rows,
    chat_history,
    check_privacy,
    start_direct_chat,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(scope="module")
def instance_b(
    live_server_daphne: LiveServer,
    celery_worker_process: Path,
    instance_a_s2s: S2sListener,
    federation_pki: Pki,
    tmp_path_factory: Any,
) -> Iterator[InstanceB]:
    b = InstanceB(
        tmp_path_factory.mktemp("b"),
        instance_a_s2s.address,
        federation_pki,
        peers={FEDERATION_C: FEDERATION_HOSTS[FEDERATION_C]},
    )
    b.start()
    try:
        with override_settings(TALKEE_FEDERATION_HOSTS=FEDERATION_HOSTS, **federation_pki.settings("localhost")):
            yield b
    finally:
        b.stop()
        b.drop()


@pytest.fixture(scope="module")
def instance_c(
    instance_b: InstanceB, instance_a_s2s: S2sListener, federation_pki: Pki, tmp_path_factory: Any
) -> Iterator[InstanceB]:
    """A third instance (`c.test` on 127.0.0.4), for groups spanning A, B and C."""
    c = InstanceB(
        tmp_path_factory.mktemp("c"),
        instance_a_s2s.address,
        federation_pki,
        domain=FEDERATION_C,
        host="127.0.0.4",
        port=FEDERATION_C_PORT,
        s2s_port=FEDERATION_C_S2S_PORT,
        peers={FEDERATION_B: FEDERATION_HOSTS[FEDERATION_B]},
    )
    c.start()
    try:
        yield c
    finally:
        c.stop()
        c.drop()


def ws_send(chat_id: str, ciphertext: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "type": "send",
        "chat_id": chat_id,
        "client_message_id": uuid.uuid4().hex,
        "kind": "application",
        "epoch": 0,
        "ciphertext": b64(ciphertext),
        **extra,
    }


def events(device: SocketDevice, chat_id: str) -> list[dict[str, Any]]:
    return [f["message"] for f in device.frames if f["type"] == "event" and f["chat_id"] == chat_id]


async def seen(device: SocketDevice, predicate: Any, timeout: float = 30) -> dict[str, Any]:
    """The first frame so far (or to come) that matches: frames of one socket may come
    from several publishers (API process, worker), so two of them can arrive either way."""
    for frame in device.frames_seen:
        if predicate(frame):
            return frame
    return await device.until(predicate, timeout=timeout)


async def settle(device: SocketDevice) -> None:
    """Read whatever is still coming (duplicates would show here) until a pong."""
    await asyncio.sleep(1.5)
    await device.send({"type": "ping"})
    await device.until(lambda f: f["type"] == "pong")


async def replay(device: SocketDevice, chat_id: str) -> list[dict[str, Any]]:
    """Reconnect the device from where it started and read its replay of the chat."""
    again = SocketDevice(device.ws_url, device.token)
    start = min(f["cursor"] for f in device.frames) - 1
    await again.connect(cursor=start)
    await again.close()
    return events(again, chat_id)


def start_group(alice: Any, *others: RemoteAccount) -> str:
    """A group homed on A with members on other instances; its id once each of them has it."""
    made = alice.client.post("/v1/chats", {"kind": "group", "members": [o.address for o in others]}, format="json")
    assert made.status_code == 201, made.content
    chat_id = str(made.json()["id"])
    for member in others:
        wait_until(lambda m=member: m.chat(chat_id) is not None, f"the group on {member.instance.domain}")
    return chat_id


def test_direct_chat_across_instances_both_send_both_receive_in_order_once(
    instance_b: InstanceB,
    make_account: Any,
    live_server_daphne: LiveServer,
    instance_a_s2s: S2sListener,
    celery_worker_process: Path,
) -> None:
    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    chat_id = start_direct_chat(alice, bob)
    on_b = bob.chat(chat_id)
    assert on_b is not None
    assert (on_b["kind"], on_b["home"]) == ("direct", "localhost")
    assert {m["user"]: m["role"] for m in on_b["members"]} == {alice.address: "owner", bob.address: "member"}
    # the same pair asking again, from either side, gets the same chat
    again = alice.client.post("/v1/chats", {"kind": "direct", "members": [bob.address]}, format="json")
    assert (again.status_code, again.json()["id"]) == (200, chat_id)
    status, from_b = bob.call("POST", "/v1/chats", {"kind": "direct", "members": [alice.address]})
    assert (status, from_b["id"]) == (200, chat_id)

    sent_by_alice: list[bytes] = []
    sent_by_bob: list[bytes] = []

    async def scenario() -> tuple[SocketDevice, SocketDevice]:
        a_socket = SocketDevice(live_server_daphne.ws_url, alice.token)
        b_socket = SocketDevice(bob.ws_url, bob.token)
        await a_socket.connect()
        await b_socket.connect()
        for i in range(3):
            text = f"alice api {i}".encode() + os.urandom(16)
            answer = await asyncio.to_thread(send, alice, chat_id, text)
            assert answer.status_code == 201, answer.content
            sent_by_alice.append(text)
            text = f"bob api {i}".encode() + os.urandom(16)
            status, body = await asyncio.to_thread(bob.send, chat_id, text)
            assert (status, body) == (202, {"id": None, "seq": None, "forwarded": True})
            sent_by_bob.append(text)
        text = b"alice ws" + os.urandom(16)
        await a_socket.send(ws_send(chat_id, text))
        assert (await a_socket.until(lambda f: f["type"] == "sent"))["seq"] is not None
        sent_by_alice.append(text)
        text = b"bob ws" + os.urandom(16)
        await b_socket.send(ws_send(chat_id, text))
        sent = await b_socket.until(lambda f: f["type"] == "sent")
        assert sent["forwarded"] is True and sent["seq"] is None
        sent_by_bob.append(text)
        for device in (a_socket, b_socket):
            while len(events(device, chat_id)) < 8:
                await device.until(lambda f: f["type"] == "event", timeout=30)
            await settle(device)
            await device.close()
        return a_socket, b_socket

    a_socket, b_socket = asyncio.run(scenario())
    for device in (a_socket, b_socket):
        # Live frames on A come from two publishers (this process for Alice's API sends,
        # the worker for Bob's): they may overtake each other on the wire, so the stream
        # position is the order, as for any local chat; a replay gives exactly that order.
        live = sorted((f["cursor"], f["message"]["seq"]) for f in device.frames if f["type"] == "event")
        assert [seq for _, seq in live] == list(range(1, 9)), "every message once, in the home's order"
        received = asyncio.run(replay(device, chat_id))
        assert [m["seq"] for m in received] == list(range(1, 9))
        texts = [base64.b64decode(m["ciphertext"]) for m in received]
        assert [t for t in texts if t in sent_by_alice] == sent_by_alice
        assert [t for t in texts if t in sent_by_bob] == sent_by_bob
    a_replay, b_replay = asyncio.run(replay(a_socket, chat_id)), asyncio.run(replay(b_socket, chat_id))
    assert [m["ciphertext"] for m in a_replay] == [m["ciphertext"] for m in b_replay]
    # history on either instance is the same ordered conversation
    status, history_b = bob.call("GET", f"/v1/chats/{chat_id}/messages?limit=50")
    history_a = alice.client.get(f"/v1/chats/{chat_id}/messages?limit=50").json()
    assert status == 200
    assert [(m["seq"], m["ciphertext"]) for m in history_b["messages"]] == [
        (m["seq"], m["ciphertext"]) for m in history_a["messages"]
    ]
    check_privacy(
        instance_b,
        [live_server_daphne.log_path, instance_a_s2s.log_path, celery_worker_process],
        [alice.address, bob.address],
        sent_by_alice + sent_by_bob,
    )


def test_commit_and_welcome_across_instances_and_device_list(
    instance_b: InstanceB, make_account: Any, live_server_daphne: LiveServer
) -> None:
    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    package = fake_keypackage()
    status, _ = bob.call("POST", "/v1/keypackages", {"keypackages": [b64(package)]})
    assert status == 201
    made = alice.client.post("/v1/chats", {"kind": "group", "members": [bob.address]}, format="json")
    assert made.status_code == 201, made.content
    chat_id = str(made.json()["id"])
    wait_until(lambda: bob.chat(chat_id) is not None, "the group on B")

    # Alice claims Bob's KeyPackage through A, which claims it at B (signed)
    claimed = alice.client.post("/v1/keypackages/claim", {"users": [bob.address]}, format="json")
    assert claimed.status_code == 200, claimed.content
    (entry,) = claimed.json()[bob.address]
    assert entry["client_device_id"] == bob.device.client_device_id and base64.b64decode(entry["keypackage"]) == package
    again = alice.client.post("/v1/keypackages/claim", {"users": [bob.address]}, format="json").json()
    assert again[bob.address][0]["keypackage"] is None, "each KeyPackage is handed out once"

    welcome = os.urandom(900)
    commit = os.urandom(700)

    async def scenario() -> dict[str, Any]:
        a_socket = SocketDevice(live_server_daphne.ws_url, alice.token)
        b_socket = SocketDevice(bob.ws_url, bob.token)
        await a_socket.connect()
        await b_socket.connect()
        answer = await asyncio.to_thread(
            send,
            alice,
            chat_id,
            commit,
            kind="commit",
            epoch=0,
            welcome={"device_ids": [entry["device_id"]], "payload": b64(welcome)},
        )
        assert answer.status_code == 201, answer.content
        got = await seen(b_socket, lambda f: f["type"] == "device_event" and f["kind"] == "welcome")
        assert (got["chat_id"], base64.b64decode(got["payload"])) == (chat_id, welcome)
        event = await seen(b_socket, lambda f: f["type"] == "event")
        assert (event["message"]["kind"], event["message"]["epoch"]) == ("commit", 0)
        assert base64.b64decode(event["message"]["ciphertext"]) == commit

        # Bob's commit at the next epoch goes through A (the home), which checks the epoch
        wait_until(lambda: bob.chat(chat_id)["epoch"] == 1, "epoch 1 on B")  # type: ignore[index]
        status, body = await asyncio.to_thread(bob.send, chat_id, os.urandom(500), kind="commit", epoch=1)
        assert status == 202, body
        mine = await seen(a_socket, lambda f: f["type"] == "event" and f["message"]["seq"] == 2)
        assert (mine["message"]["kind"], mine["message"]["epoch"]) == ("commit", 1)
        await seen(b_socket, lambda f: f["type"] == "event" and f["message"]["seq"] == 2)
        status, body = await asyncio.to_thread(bob.send, chat_id, os.urandom(500), kind="commit", epoch=1)
        assert (status, body["error"]["code"]) == (409, "stale_epoch")

        # a new device of Bob's reaches Alice's device as a `device` event, and so does its revocation
        second = DeviceKeys()
        _, second_id = await asyncio.to_thread(bob.log_in, second)
        added = await a_socket.until(lambda f: f["type"] == "device_event" and f["kind"] == "device", timeout=30)
        status, _ = await asyncio.to_thread(bob.call, "DELETE", f"/v1/devices/{second_id}")
        assert status == 204
        revoked = await a_socket.until(lambda f: f["type"] == "device_event" and f["kind"] == "device", timeout=30)
        await a_socket.close()
        await b_socket.close()
        return {"added": added["data"], "revoked": revoked["data"], "second": second}

    result = asyncio.run(scenario())
    second = result["second"]
    assert result["added"]["change"] == "added" and result["revoked"]["change"] == "revoked"
    for data in (result["added"], result["revoked"]):
        assert (data["user"], data["client_device_id"]) == (bob.address, second.client_device_id)
    assert alice.client.get(f"/v1/chats/{chat_id}").json()["epoch"] == 2
    # A dropped its mirror of the revoked device (so no Welcome can be addressed to it)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM devices_device WHERE client_device_id = %s", [second.client_device_id])
        assert cursor.fetchone() == (0,)


def test_outage_of_b_everything_arrives_once_in_order_on_bobs_device(
    instance_b: InstanceB, make_account: Any, live_server_daphne: LiveServer
) -> None:
    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    chat_id = start_direct_chat(alice, bob)

    async def connect_bob(cursor: int | None = None) -> SocketDevice:
        device = SocketDevice(bob.ws_url, bob.token)
        await device.connect(cursor=cursor)
        return device

    async def where_bob_is() -> int | None:
        device = await connect_bob()
        await device.close()
        return device.cursor

    cursor = asyncio.run(where_bob_is())
    instance_b.stop()
    texts = [f"while B is down {i}".encode() + os.urandom(8) for i in range(25)]
    for text in texts:
        assert send(alice, chat_id, text).status_code == 201
    waiting = OutboxEnvelope.objects.filter(destination=FEDERATION_B, delivered_at=None)
    wait_until(lambda: waiting.filter(attempts__gte=1).exists(), "a failed attempt while B is down")
    assert waiting.count() == 25
    instance_b.start()
    OutboxEnvelope.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))  # the backoff passed
    sweep_outbox.delay()  # what beat does every few seconds

    async def catch_up() -> SocketDevice:
        device = await connect_bob(cursor)
        while len(events(device, chat_id)) < 25:
            await device.until(lambda f: f["type"] == "event", timeout=60)
        await settle(device)
        await device.close()
        return device

    device = asyncio.run(catch_up())
    received = events(device, chat_id)
    assert [m["seq"] for m in received] == list(range(1, 26))
    assert [base64.b64decode(m["ciphertext"]) for m in received] == texts


def test_group_with_members_on_three_instances(
    instance_b: InstanceB, instance_c: InstanceB, make_account: Any, live_server_daphne: LiveServer
) -> None:
    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    carol = RemoteAccount.register(instance_c, "carol")
    chat_id = start_group(alice, bob, carol)
    everyone = {alice.address: "owner", bob.address: "member", carol.address: "member"}
    for member in (bob, carol):
        assert {m["user"]: m["role"] for m in member.chat(chat_id)["members"]} == everyone

    sent: list[bytes] = []

    async def scenario() -> list[SocketDevice]:
        sockets = [
            SocketDevice(live_server_daphne.ws_url, alice.token),
            SocketDevice(bob.ws_url, bob.token),
            SocketDevice(carol.ws_url, carol.token),
        ]
        for device in sockets:
            await device.connect()
        for i in range(2):
            text = f"alice {i}".encode() + os.urandom(8)
            assert (await asyncio.to_thread(send, alice, chat_id, text)).status_code == 201
            sent.append(text)
            for member in (bob, carol):
                text = f"{member.username} {i}".encode() + os.urandom(8)
                status, _ = await asyncio.to_thread(member.send, chat_id, text)
                assert status == 202
                sent.append(text)
        for device in sockets:
            while len(events(device, chat_id)) < 6:
                await device.until(lambda f: f["type"] == "event", timeout=30)
            await settle(device)
            await device.close()
        return sockets

    for device in asyncio.run(scenario()):
        received = asyncio.run(replay(device, chat_id))
        assert [m["seq"] for m in received] == list(range(1, 7))
        texts = [base64.b64decode(m["ciphertext"]) for m in received]
        assert sorted(texts) == sorted(sent)
        for who in (b"alice", bob.username.encode(), carol.username.encode()):
            assert [t for t in texts if t.startswith(who)] == [t for t in sent if t.startswith(who)]
        assert len({f["message"]["seq"] for f in device.frames if f["type"] == "event"}) == 6
        assert len([f for f in device.frames if f["type"] == "event"]) == 6, "each message once"

    # Carol leaves from C: the home applies it and tells B and C; C gets nothing after that
    status, _ = carol.call("DELETE", f"/v1/chats/{chat_id}/members/{carol.address}")
    assert status == 202
    wait_until(lambda: carol.chat(chat_id) is None, "Carol out of the group on C")
    wait_until(lambda: carol.address not in [m["user"] for m in bob.chat(chat_id)["members"]], "B knows")
    assert send(alice, chat_id, b"after carol left").status_code == 201
    wait_until(lambda: len(bob.call("GET", f"/v1/chats/{chat_id}/messages")[1]["messages"]) == 7, "on B")
    with psycopg.connect(instance_c.dsn) as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM talkee_messages_message ORDER BY seq").fetchall()]
    assert seqs == list(range(1, 7))


# --- privacy ----------------------------------------------------------------------------


def test_edits_deletions_reactions_and_burn_across_instances(
    instance_b: InstanceB,
    make_account: Any,
    live_server_daphne: LiveServer,
    instance_a_s2s: S2sListener,
    celery_worker_process: Path,
) -> None:
    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    chat_id = start_direct_chat(alice, bob)
    a_secret, b_secret = os.urandom(32), os.urandom(32)
    a_text, b_text = b"alice original" + os.urandom(16), b"bob original" + os.urandom(16)
    sent = send(alice, chat_id, a_text, edit_hash=b64(blake3(a_secret).digest()))
    assert sent.status_code == 201, sent.content
    a_seq = sent.json()["seq"]
    status, _ = bob.send(chat_id, b_text, edit_hash=b64(blake3(b_secret).digest()))
    assert status == 202
    wait_until(lambda: len(chat_history(bob, chat_id)) == 2 and len(chat_history(alice, chat_id)) == 2, "both messages")
    b_seq = next(seq for seq, m in chat_history(alice, chat_id).items() if base64.b64decode(m["ciphertext"]) == b_text)
    edited_a, edited_b = b"alice edited" + os.urandom(16), b"bob edited" + os.urandom(16)

    def text_on(account: Any, seq: int) -> bytes | None:
        message = chat_history(account, chat_id)[seq]
        return None if message["ciphertext"] is None else base64.b64decode(message["ciphertext"])

    async def scenario() -> None:
        a_socket = SocketDevice(alice_ws, alice.token)
        b_socket = SocketDevice(bob.ws_url, bob.token)
        await a_socket.connect()
        await b_socket.connect()
        # Alice edits on A (the home): Bob's device on B gets the same `event`, by seq
        edit = {"edit_secret": b64(a_secret), "ciphertext": b64(edited_a)}
        answer = await asyncio.to_thread(alice.client.patch, f"/v1/messages/{a_message}", edit, format="json")
        assert answer.status_code == 200, answer.content
        frame = await seen(
            b_socket, lambda f: f["type"] == "event" and f["message"]["seq"] == a_seq and f["message"]["edited_at"]
        )
        assert base64.b64decode(frame["message"]["ciphertext"]) == edited_a
        # Bob reacts to it from B: forwarded, ordered by A, seen by Alice's device
        reaction = {"ciphertext": b64(b"thumbs" + os.urandom(24)), "remove_hash": b64(blake3(b_secret).digest())}
        status, body = await asyncio.to_thread(bob.call, "POST", f"/v1/messages/{b_ids[a_seq]}/reactions", reaction)
        assert (status, body["forwarded"]) == (202, True)
        on_a = await seen(a_socket, lambda f: f["type"] == "reaction" and not f["reaction"]["deleted"])
        assert on_a["reaction"]["ciphertext"] == reaction["ciphertext"]
        on_b = await seen(b_socket, lambda f: f["type"] == "reaction" and not f["reaction"]["deleted"])
        # ... and removes it from B with the secret behind its remove_hash
        status, _ = await asyncio.to_thread(
            bob.call, "DELETE", f"/v1/reactions/{on_b['reaction']['id']}", {"remove_secret": b64(b_secret)}
        )
        assert status == 202
        gone = await seen(a_socket, lambda f: f["type"] == "reaction" and f["reaction"]["deleted"])
        assert gone["reaction"]["id"] == on_a["reaction"]["id"] and gone["reaction"]["ciphertext"] is None
        await settle(a_socket)
        await settle(b_socket)
        reactions_on_a = [f for f in a_socket.frames if f["type"] == "reaction"]
        assert len(reactions_on_a) == 2, "added once, removed once"
        await a_socket.close()
        await b_socket.close()

    alice_ws = live_server_daphne.ws_url
    a_message = chat_history(alice, chat_id)[a_seq]["id"]
    b_ids = {seq: m["id"] for seq, m in chat_history(bob, chat_id).items()}
    asyncio.run(scenario())

    # Bob edits his own message on B: a wrong secret is refused there at once, the right
    # one goes to A, which checks it again and fans the edit out
    status, body = bob.call(
        "PATCH", f"/v1/messages/{b_ids[b_seq]}", {"edit_secret": b64(a_secret), "ciphertext": b64(b"forged" * 8)}
    )
    assert (status, body["error"]["code"]) == (403, "wrong_edit_secret")
    status, body = bob.call(
        "PATCH", f"/v1/messages/{b_ids[b_seq]}", {"edit_secret": b64(b_secret), "ciphertext": b64(edited_b)}
    )
    assert (status, body["forwarded"]) == (202, True)
    wait_until(lambda: text_on(alice, b_seq) == edited_b and text_on(bob, b_seq) == edited_b, "Bob's edit")
    # Bob may not delete Alice's message (not his secret, no admin role in a direct chat)
    status, body = bob.call("DELETE", f"/v1/messages/{b_ids[a_seq]}", {"edit_secret": b64(b_secret)})
    assert (status, body["error"]["code"]) == (403, "wrong_edit_secret")
    # Alice deletes hers on A: gone on B too
    deleted = alice.client.delete(f"/v1/messages/{a_message}", {"edit_secret": b64(a_secret)}, format="json")
    assert deleted.status_code == 200 and deleted.json()["deleted"]
    wait_until(lambda: chat_history(bob, chat_id)[a_seq]["deleted"], "Alice's deletion on B")
    assert text_on(bob, a_seq) is None

    # burn-on-read: Alice's message burnt by Bob on B is gone on both instances
    burn_text = b"read once" + os.urandom(16)
    sent = send(alice, chat_id, burn_text, burn_on_read=True)
    burn_seq = sent.json()["seq"]
    wait_until(lambda: burn_seq in chat_history(bob, chat_id), "the burn-on-read message on B")
    status, body = bob.call("POST", f"/v1/messages/{chat_history(bob, chat_id)[burn_seq]['id']}/burn")
    assert (status, body["forwarded"]) == (202, True)
    wait_until(
        lambda: chat_history(alice, chat_id)[burn_seq]["deleted"] and chat_history(bob, chat_id)[burn_seq]["deleted"],
        "the burn on both instances",
    )

    a_dsn = a_database()
    for dsn in (a_dsn, instance_b.dsn):
        # replaced, deleted and burnt ciphertexts are gone from every table of both instances
        rows = [row for table in all_rows(dsn).values() for row in table]
        assert not [r for r in rows if any(t.hex() in r for t in (a_text, b_text, edited_a, burn_text))]
    check_privacy(
        instance_b,
        [live_server_daphne.log_path, instance_a_s2s.log_path, celery_worker_process],
        [alice.address, bob.address],
        [a_text, b_text, edited_a, edited_b, burn_text],
    )


def test_a_file_sent_on_a_is_downloaded_by_bob_through_b(
    shared_blob_dir: Path,
    instance_b: InstanceB,
    make_account: Any,
    live_server_daphne: LiveServer,
    instance_a_s2s: S2sListener,
    celery_worker_process: Path,
) -> None:
    from apps.blobs.sizes import encrypted_size
    from apps.federation.remote import BLOB_PIECE_BYTES
    from tests.blobs.conftest import upload

    size = encrypted_size(8 * 1024 * 1024)  # more than two of the pieces B fetches from A
    assert size > 2 * BLOB_PIECE_BYTES

    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    carol = RemoteAccount.register(instance_b, "carol")  # on B, not in the chat
    chat_id = start_direct_chat(alice, bob)
    data = os.urandom(size)
    blob_id = upload(alice, chat_id, data)
    secret = os.urandom(32)
    sent = send(
        alice, chat_id, b"see attached" + os.urandom(16), blob_ids=[blob_id], edit_hash=b64(blake3(secret).digest())
    )
    assert sent.status_code == 201, sent.content
    wait_until(lambda: sent.json()["seq"] in chat_history(bob, chat_id), "the message on B")

    def download(account: RemoteAccount, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
        return download_on(account.instance.url, account.token, blob_id, headers)

    # the whole file (fetched by B from A in signed ranged pieces): the same bytes
    status, body, headers = download(bob)
    assert (status, len(body), body == data) == (200, size, True), body[:300]
    assert headers["Content-Length"] == str(size)
    # a range, as a resuming or streaming client asks
    status, body, headers = download(bob, {"Range": "bytes=1048570-1048589"})
    assert (status, body, headers["Content-Range"]) == (206, data[1048570:1048590], f"bytes 1048570-1048589/{size}")
    status, body, _ = download(bob, {"Range": f"bytes={BLOB_PIECE_BYTES - 10}-"})  # from across a piece's end
    assert (status, body) == (206, data[BLOB_PIECE_BYTES - 10 :])
    status, body, _ = download(bob, {"Range": f"bytes={size}-"})
    assert status == 416
    # someone on B who is not in the chat: no such blob
    status, body, _ = download(carol)
    assert (status, json.loads(body)["error"]["code"]) == (404, "blob_not_found")
    # B keeps no copy of the bytes, and its row knows only the padded size and the chat
    b_files = [p for p in (instance_b.tmp / f"{instance_b.name}-var").rglob("*") if p.is_file()]
    assert not [p for p in b_files if data[:64] in p.read_bytes()]
    with psycopg.connect(instance_b.dsn) as conn:
        row = conn.execute(
            "SELECT size, storage_name, at_home FROM blobs_blob WHERE id = %s", [uuid.UUID(blob_id)]
        ).fetchone()
    assert row == (size, "", True)
    # Alice deletes the message: the file is gone at A, B's stub with B's copy, and B
    # can no longer fetch it
    deleted = alice.client.delete(f"/v1/messages/{sent.json()['id']}", {"edit_secret": b64(secret)}, format="json")
    assert deleted.status_code == 200, deleted.content

    def stub_on_b() -> Any:
        with psycopg.connect(instance_b.dsn) as conn:
            return conn.execute("SELECT 1 FROM blobs_blob WHERE id = %s", [uuid.UUID(blob_id)]).fetchone()

    wait_until(lambda: stub_on_b() is None, "B's stub released with the message")
    assert download(bob)[0] == 404
    check_privacy(
        instance_b,
        [live_server_daphne.log_path, instance_a_s2s.log_path, celery_worker_process],
        [alice.address, bob.address],
        [],
    )


def download_on(url: str, token: str, blob_id: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    """GET /v1/blobs/{id} on an instance's client port: (status, body, headers)."""
    request = urllib.request.Request(
        f"{url}/v1/blobs/{blob_id}", headers={"Authorization": f"Bearer {token}", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def upload_on(account: RemoteAccount, chat_id: str, data: bytes) -> str:
    """The client's upload through an instance's API: create, every chunk, complete."""
    status, blob = account.call("POST", "/v1/blobs", {"chat_id": chat_id, "size": len(data)})
    assert status == 201, blob
    step = blob["chunk_size"]
    for index in range(blob["chunk_count"]):
        request = urllib.request.Request(
            f"{account.instance.url}/v1/blobs/{blob['id']}/chunks/{index}",
            data=data[index * step : (index + 1) * step],
            method="PUT",
            headers={"Authorization": f"Bearer {account.token}", "Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 201
    status, done = account.call("POST", f"/v1/blobs/{blob['id']}/complete")
    assert (status, done) == (200, {"id": blob["id"], "size": len(data)})
    return str(blob["id"])


def _blob_row(dsn: str, blob_id: str) -> tuple[Any, ...] | None:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT size, storage_name <> '', at_home, expires_at IS NULL FROM blobs_blob WHERE id = %s",
            [uuid.UUID(blob_id)],
        ).fetchone()


def test_a_file_sent_on_b_in_a_group_homed_on_a_reaches_a_and_c(
    shared_blob_dir: Path,
    instance_b: InstanceB,
    instance_c: InstanceB,
    make_account: Any,
    live_server_daphne: LiveServer,
    instance_a_s2s: S2sListener,
    celery_worker_process: Path,
) -> None:
    """Bob attaches a file on B, which is not the group's home: B keeps it while the send
    is forwarded, A (the home) pulls it from B before ordering the message and stores it
    like its own members' files, C fetches it from A for Carol — identical bytes for all."""

    from apps.blobs.sizes import encrypted_size
    from apps.federation.remote import BLOB_PIECE_BYTES

    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    carol = RemoteAccount.register(instance_c, "carol")
    chat_id = start_group(alice, bob, carol)

    size = encrypted_size(8 * 1024 * 1024)
    assert size > 2 * BLOB_PIECE_BYTES  # A pulls it in several signed pieces
    data = os.urandom(size)
    blob_id = upload_on(bob, chat_id, data)
    text = b"from bob, see attached" + os.urandom(16)
    secret = os.urandom(32)
    status, answer = bob.send(chat_id, text, blob_ids=[blob_id], edit_hash=b64(blake3(secret).digest()))
    assert (status, answer.get("forwarded")) == (202, True), answer
    wait_until(lambda: 1 in chat_history(carol, chat_id), "the message on C")
    wait_until(lambda: 1 in chat_history(bob, chat_id), "the message back on B")
    on_a = chat_history(alice, chat_id)[1]
    assert base64.b64decode(on_a["ciphertext"]) == text

    def same_file(url: str, token: str) -> bool:
        status, body, _ = download_on(url, token, blob_id)
        assert status == 200, body[:300]
        return body == data

    assert same_file(live_server_daphne.url, alice.token)  # A's copy, pulled from B
    assert same_file(carol.instance.url, carol.token)  # C fetches it from A
    assert same_file(bob.instance.url, bob.token)  # B's own upload
    status, body, headers = download_on(carol.instance.url, carol.token, blob_id, {"Range": "bytes=5-14"})
    assert (status, body, headers["Content-Range"]) == (206, data[5:15], f"bytes 5-14/{size}")

    a_dsn = a_database()
    # (padded size, bytes here, a stub of the home's file, kept for as long as its message)
    assert _blob_row(a_dsn, blob_id) == (size, True, False, True)
    assert _blob_row(instance_b.dsn, blob_id) == (size, True, False, True)
    assert _blob_row(instance_c.dsn, blob_id) == (size, False, True, True)
    # the home's stored copy is the file's bytes, under a random name that says nothing
    a_files = [p for p in shared_blob_dir.rglob("*") if p.is_file() and p.stat().st_size == size]
    assert [p for p in a_files if p.read_bytes() == data]
    assert not [p for p in a_files if blob_id.replace("-", "") in p.as_posix()]

    # Bob deletes it (forwarded to the home): gone at A, B and C, bytes included
    status, _ = bob.call("DELETE", f"/v1/messages/{chat_history(bob, chat_id)[1]['id']}", {"edit_secret": b64(secret)})
    assert status == 202
    for dsn in (a_dsn, instance_b.dsn, instance_c.dsn):
        wait_until(lambda d=dsn: _blob_row(d, blob_id) is None, "the file released with its message")
    assert download_on(live_server_daphne.url, alice.token, blob_id)[0] == 404
    assert download_on(carol.instance.url, carol.token, blob_id)[0] == 404
    b_files = [p for p in (instance_b.tmp / f"{instance_b.name}-var").rglob("*") if p.is_file()]
    assert not [p for p in [*b_files, *shared_blob_dir.rglob("*")] if p.is_file() and data[:64] in p.read_bytes()]
    check_privacy(
        instance_b,
        [live_server_daphne.log_path, instance_a_s2s.log_path, celery_worker_process],
        [alice.address, bob.address, carol.address],
        [text],
    )


def test_a_history_bundle_for_bobs_new_device_stays_on_b(
    instance_b: InstanceB, make_account: Any, live_server_daphne: LiveServer
) -> None:
    """A user's devices all live on their own instance, so a history bundle for a chat
    homed elsewhere goes from one of Bob's devices to another through B only."""

    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    chat_id = start_direct_chat(alice, bob)
    second = DeviceKeys()
    token, device_id = bob.log_in(second)
    sealed = os.urandom(4096)
    status, stored = bob.call(
        "POST", "/v1/device-sync/bundle", {"to_device_id": device_id, "chat_id": chat_id, "ciphertext": b64(sealed)}
    )
    assert status == 201, stored
    status, page = bob.call("GET", "/v1/sync?cursor=0&timeout=0", token=token)
    assert status == 200, page
    bundles = [e for e in page["events"] if e["type"] == "device_event" and e["kind"] == "sync_bundle"]
    assert [(e["chat_id"], e["payload"], e["from_device_id"]) for e in bundles] == [
        (chat_id, b64(sealed), bob.device_id)
    ]
    # B told A of Bob's new device (a device_list envelope): wait until A has handled it,
    # so nothing is still writing into A's database when the test ends
    from apps.devices.models import Device
    from apps.federation.models import InboxEnvelope

    wait_until(
        lambda: (
            Device.objects.filter(user__username=bob.address).count() == 2
            and not InboxEnvelope.objects.filter(handled_at=None).exists()
        ),
        "A mirroring Bob's second device",
    )
    a_dsn = a_database()
    assert not [row for rows in all_rows(a_dsn).values() for row in rows if sealed.hex()[:64] in row]


def test_call_signals_reach_the_other_instance_both_ways_and_are_not_kept(
    instance_b: InstanceB,
    make_account: Any,
    live_server_daphne: LiveServer,
    instance_a_s2s: S2sListener,
    celery_worker_process: Path,
) -> None:
    """alice@A calls bob@B: her app's sealed signals (offer, candidates…) reach Bob's socket
    on B through a `call` envelope, his answers come back the same way, in order; the
    payloads are in no table of either instance afterwards and in no log."""
    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    chat_id = start_direct_chat(alice, bob)
    from_alice = [os.urandom(600) for _ in range(3)]
    from_bob = [os.urandom(400) for _ in range(2)]

    async def scenario() -> tuple[list[str], list[str]]:
        a_socket = SocketDevice(live_server_daphne.ws_url, alice.token)
        b_socket = SocketDevice(bob.ws_url, bob.token)
        await a_socket.connect()
        await b_socket.connect()

        def calls(device: SocketDevice) -> list[str]:
            return [f["payload"] for f in device.frames_seen if f["type"] == "call" and f["chat_id"] == chat_id]

        for payload in from_alice:
            await a_socket.send({"type": "call", "chat_id": chat_id, "payload": b64(payload)})
        while len(calls(b_socket)) < len(from_alice):
            await b_socket.until(lambda f: f["type"] == "call", timeout=30)
        for payload in from_bob:
            await b_socket.send({"type": "call", "chat_id": chat_id, "payload": b64(payload)})
        while len([p for p in calls(a_socket) if p in {b64(x) for x in from_bob}]) < len(from_bob):
            await a_socket.until(lambda f: f["type"] == "call", timeout=30)
        await settle(b_socket)
        await a_socket.close()
        await b_socket.close()
        return calls(a_socket), calls(b_socket)

    on_a, on_b = asyncio.run(scenario())
    # (each socket also hears its own signals: the chat's local sockets all do)
    assert [p for p in on_b if p not in {b64(x) for x in from_bob}] == [b64(p) for p in from_alice], "once, in order"
    assert [p for p in on_a if p not in {b64(x) for x in from_alice}] == [b64(p) for p in from_bob]
    check_privacy(
        instance_b,
        [live_server_daphne.log_path, instance_a_s2s.log_path, celery_worker_process],
        [alice.address, bob.address],
        [*from_alice, *from_bob],
    )


def test_one_request_id_follows_a_message_from_as_api_through_its_worker_to_bs_listener(
    instance_b: InstanceB, make_account: Any, live_server_daphne: LiveServer, celery_worker_process: Path
) -> None:
    """A's web process takes the front's X-Request-ID; the delivery task its send queued runs
    under it in A's worker, which sends it to B: B's s2s listener logs its request with it."""
    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    chat_id = start_direct_chat(alice, bob)
    request_id = str(uuid.uuid4())
    answer = send(alice, chat_id, os.urandom(64), headers={"X-Request-ID": request_id})
    assert answer.status_code == 201, answer.content
    assert answer["X-Request-ID"] == request_id

    def b_lines() -> list[dict[str, Any]]:
        lines = (json.loads(line) for line in instance_b.log_path.read_text().splitlines() if line.startswith("{"))
        return [line for line in lines if line.get("request_id") == request_id and line["logger"] == "talkee.request"]

    wait_until(lambda: b_lines() != [], "B's listener logging A's request id")
    delivered = [line for line in b_lines() if (line["method"], line["route"]) == ("POST", "s2s/v1/envelopes")]
    assert delivered and all(200 <= line["status"] < 300 for line in delivered), b_lines()
    assert chat_id not in json.dumps(b_lines())
