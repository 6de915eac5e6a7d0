import asyncio
import json
import random
import threading
import time
import urllib.request
import uuid
from datetime import datetime

import pytest
import websockets
from rest_framework.test import APIClient

from apps.messages.models import DeviceInbox, Message
from tests.conftest import DeviceKeys, b64, json_call, login, make_chat, send, start_daphne, stop
from tests.messages.wsclient import SocketDevice

pytestmark = pytest.mark.django_db(transaction=True)


def send_frame(chat_id: str, text: bytes = b"hello", **extra) -> dict:
    return {
        "type": "send",
        "chat_id": chat_id,
        "client_message_id": uuid.uuid4().hex,
        "kind": "application",
        "epoch": 0,
        "ciphertext": b64(text),
        **extra,
    }


def test_message_sent_over_the_socket_reaches_every_device_live(make_account, live_server_daphne) -> None:
    alice, bob = make_account(), make_account()
    alice_phone = login(APIClient(), alice.username, alice.password, DeviceKeys()).json()
    chat = make_chat(alice, "direct", bob)

    async def scenario() -> None:
        sender = SocketDevice(live_server_daphne.ws_url, alice.token)
        phone = SocketDevice(live_server_daphne.ws_url, alice_phone["token"])
        receiver = SocketDevice(live_server_daphne.ws_url, bob.token)
        for device in (sender, phone, receiver):
            await device.connect()
        frame = send_frame(chat["id"], b"ciphertext-1")
        await sender.send(frame)
        sent = await sender.until(lambda f: f["type"] == "sent")
        assert sent["client_message_id"] == frame["client_message_id"]
        for device in (receiver, phone):
            event = await device.until(lambda f: f["type"] == "event")
            assert event["message"]["id"] == sent["id"]
            assert event["message"]["ciphertext"] == b64(b"ciphertext-1")
            assert event["chat_id"] == chat["id"]
        for device in (sender, phone, receiver):
            await device.close()

    asyncio.run(scenario())


def test_resume_is_exactly_once_and_in_order_across_random_drops(make_account, live_server_daphne) -> None:
    """A sender keeps sending over HTTP while the receiver's connection is cut at random
    points (mid-replay included). Every message arrives once, in order."""
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    rng = random.Random(20261123)
    total = 120
    sent_ids: list[int] = []
    stop_sending = threading.Event()

    def sender() -> None:
        from django.db import connection

        try:
            for _ in range(total):
                sent_ids.append(send(alice, chat["id"]).json()["id"])
        finally:
            stop_sending.set()
            connection.close()

    async def scenario() -> SocketDevice:
        receiver = SocketDevice(live_server_daphne.ws_url, bob.token)
        thread = threading.Thread(target=sender)
        thread.start()
        drops = 0
        while True:
            await receiver.connect(wait_synced=False)
            budget = rng.randint(1, 25)  # frames to take before the next cut
            try:
                for _ in range(budget):
                    await receiver.recv(timeout=1.0)
                    if rng.random() < 0.3:
                        await receiver.ack()
            except TimeoutError:
                pass
            if stop_sending.is_set() and len(receiver.message_ids()) >= total:
                await receiver.close()
                break
            await receiver.drop()
            drops += 1
            assert drops < 400
        thread.join()
        return receiver

    receiver = asyncio.run(scenario())
    assert len(sent_ids) == total
    assert receiver.message_ids() == sent_ids
    seqs = [f["message"]["seq"] for f in receiver.frames if f["type"] == "event"]
    assert seqs == list(range(1, total + 1))


def test_server_cursor_resumes_a_device_that_forgot_its_own(make_account, live_server_daphne) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    first = [send(alice, chat["id"]).json()["id"] for _ in range(3)]

    async def scenario() -> tuple[list[int], list[int]]:
        device = SocketDevice(live_server_daphne.ws_url, bob.token)
        await device.connect()
        assert device.message_ids() == first
        await device.ack()
        await device.send({"type": "ping"})
        await device.until(lambda f: f["type"] == "pong")
        await device.close()
        later = [(await asyncio.to_thread(send, alice, chat["id"])).json()["id"] for _ in range(2)]
        fresh = SocketDevice(live_server_daphne.ws_url, bob.token)  # no cursor: the server's is used
        await fresh.connect()
        return later, fresh.message_ids()

    later, replayed = asyncio.run(scenario())
    assert replayed == later


def test_two_server_processes_share_delivery_and_resume(make_account, live_server_daphne, tmp_path) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    # the second process runs under uvicorn: the production option shares delivery too
    other = start_daphne(tmp_path, "second", {"TALKEE_SERVER": "uvicorn"})
    try:

        async def scenario() -> tuple[list[int], list[int], list[int], list[int]]:
            sender = SocketDevice(live_server_daphne.ws_url, alice.token)
            receiver = SocketDevice(other.ws_url, bob.token)
            await sender.connect()
            await receiver.connect()
            ids = []
            for i in range(5):
                await sender.send(send_frame(chat["id"], f"m{i}".encode()))
                ids.append((await sender.until(lambda f: f["type"] == "sent"))["id"])
            for _ in ids:
                await receiver.until(lambda f: f["type"] == "event")
            live = receiver.message_ids()
            await receiver.drop()
            more = []
            for i in range(3):
                await sender.send(send_frame(chat["id"], f"late{i}".encode()))
                more.append((await sender.until(lambda f: f["type"] == "sent"))["id"])
            # resume on the first process with the cursor kept by the device
            moved = SocketDevice(live_server_daphne.ws_url, bob.token)
            moved.cursor = receiver.cursor
            await moved.connect()
            await sender.close()
            await moved.close()
            return ids, live, more, moved.message_ids()

        ids, live, more, resumed = asyncio.run(scenario())
        assert live == ids
        assert resumed == more
    finally:
        stop(other.process)


def test_membership_changes_take_effect_on_open_sockets(make_account, live_server_daphne) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group")
    direct = make_chat(alice, "direct", bob)  # Bob stays in this one

    async def scenario() -> None:
        listener = SocketDevice(live_server_daphne.ws_url, bob.token)
        await listener.connect()
        await asyncio.to_thread(
            alice.client.post, f"/v1/chats/{chat['id']}/members", {"users": [bob.address]}, format="json"
        )
        joined = await listener.until(lambda f: f["type"] == "device_event" and f["kind"] == "chat")
        assert joined["data"]["change"] == "joined"
        sent = (await asyncio.to_thread(send, alice, chat["id"], b"welcome aboard")).json()
        event = await listener.until(lambda f: f["type"] == "event")
        assert event["message"]["id"] == sent["id"]
        removed = await asyncio.to_thread(alice.client.delete, f"/v1/chats/{chat['id']}/members/{bob.address}")
        assert removed.status_code == 204
        await listener.until(lambda f: f["type"] == "device_event" and f["data"].get("change") == "left")
        secret = (await asyncio.to_thread(send, alice, chat["id"], b"after removal")).json()
        # The secret went out to the group before this message to a chat Bob is still in
        # (the test client publishes before it returns); both would reach Bob's socket in
        # that order, so once this one is here the secret would have come first.
        after = (await asyncio.to_thread(send, alice, direct["id"], b"still talking")).json()
        await listener.until(lambda f: f["type"] == "event" and f["message"]["id"] == after["id"])
        assert secret["id"] not in listener.message_ids(), "Bob's socket got a message sent after his removal"
        await listener.close()

    asyncio.run(scenario())


def test_bad_frames_get_errors_and_the_socket_stays_usable(make_account, live_server_daphne) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")

    async def scenario() -> int:
        device = SocketDevice(live_server_daphne.ws_url, alice.token)
        await device.connect()
        await device.send({"type": "send", "chat_id": chat["id"], "kind": "application"})
        missing = await device.until(lambda f: f["type"] == "error")
        assert missing["code"] == "invalid_input"
        bad = send_frame(chat["id"])
        bad["ciphertext"] = "%%% not base64"
        await device.send(bad)
        error = await device.until(lambda f: f["type"] == "error")
        assert error["code"] == "invalid_input"
        assert error["client_message_id"] == bad["client_message_id"]
        await device.send(send_frame(str(uuid.uuid4())))
        assert (await device.until(lambda f: f["type"] == "error"))["code"] == "chat_not_found"
        await device.send({"type": "teleport"})
        assert (await device.until(lambda f: f["type"] == "error"))["code"] == "unknown_type"
        await device.send({"type": "ack", "cursor": "soon"})
        assert (await device.until(lambda f: f["type"] == "error"))["code"] == "invalid_input"
        await device.send(send_frame(chat["id"]))
        assert (await device.until(lambda f: f["type"] == "sent"))["seq"] == 1
        await device.socket.send("{not json")
        try:
            await device.until(lambda f: False)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code
        return 0

    assert asyncio.run(scenario()) == 4008
    assert Message.objects.count() == 1


def test_handshake_messages_of_several_megabytes_pass_the_socket(make_account, live_server_daphne) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    blob = random.Random(1).randbytes(6 * 1024 * 1024)

    async def scenario() -> dict:
        device = SocketDevice(live_server_daphne.ws_url, alice.token)
        await device.connect()
        await device.send(send_frame(chat["id"], blob, kind="commit"))
        sent = await device.until(lambda f: f["type"] in ("sent", "error"), timeout=30)
        await device.close()
        return sent

    assert asyncio.run(scenario())["type"] == "sent"
    assert bytes(Message.objects.get().ciphertext) == blob


def test_typing_and_presence_are_relayed_and_never_stored(make_account, live_server_daphne) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    before = (Message.objects.count(), DeviceInbox.objects.count())

    async def scenario() -> None:
        typist = SocketDevice(live_server_daphne.ws_url, alice.token)
        watcher = SocketDevice(live_server_daphne.ws_url, bob.token)
        await watcher.connect()
        await typist.connect()
        online = await watcher.until(lambda f: f["type"] == "presence" and f["user"] == alice.address)
        assert online == {"type": "presence", "user": alice.address, "state": "online", "last_seen": None}
        await typist.send({"type": "typing", "chat_id": chat["id"]})
        typing = await watcher.until(lambda f: f["type"] == "typing")
        assert typing == {"type": "typing", "chat_id": chat["id"], "user": alice.address}
        await typist.close()
        offline = await watcher.until(lambda f: f["type"] == "presence" and f["user"] == alice.address)
        assert offline["state"] == "offline" and offline["last_seen"]
        await watcher.close()

    asyncio.run(scenario())
    assert (Message.objects.count(), DeviceInbox.objects.count()) == before


@pytest.mark.parametrize(
    "query",
    ["cursor=-1", f"cursor={2**63}", "cursor=1.5", "cursor=x", "timeout=-1", "timeout=nan", "timeout=abc"],
)
def test_long_poll_refuses_a_bad_cursor_or_timeout_with_a_400(make_account, live_server_daphne, query: str) -> None:
    """A cursor past a bigint reached PostgreSQL; NaN slipped past `< 0`: both are 400 now."""
    alice = make_account()
    status, body = json_call(live_server_daphne.url, "GET", f"/v1/sync?{query}", token=alice.token)
    assert status == 400, body
    assert body["error"]["code"] == "invalid_input"


def test_long_poll_returns_the_same_events_and_wakes_on_new_ones(make_account, live_server_daphne) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    first = send(alice, chat["id"]).json()

    def poll(cursor: int, timeout: float) -> dict:
        request = urllib.request.Request(
            f"{live_server_daphne.url}/v1/sync?cursor={cursor}&timeout={timeout}",
            headers={"Authorization": f"Bearer {bob.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout + 10) as response:
            return dict(json.loads(response.read()))

    page = poll(0, 0)
    assert [e["message"]["id"] for e in page["events"] if e["type"] == "event"] == [first["id"]]
    result: dict = {}
    waiter = threading.Thread(target=lambda: result.update(poll(page["cursor"], 20)))
    waiter.start()
    time.sleep(1.0)
    assert waiter.is_alive(), "the long-poll waits while there is nothing new"
    second = send(alice, chat["id"]).json()
    waiter.join(timeout=15)
    assert not waiter.is_alive()
    assert [e["message"]["id"] for e in result["events"]] == [second["id"]]


def test_presence_skips_large_groups(make_account, tmp_path) -> None:
    """With TALKEE_PRESENCE_MAX_MEMBERS=2, Alice coming online reaches Bob through their
    direct chat only, not through the three-person group they share too."""
    alice, bob, carol = make_account(), make_account(), make_account()
    make_chat(alice, "group", bob, carol)
    direct = make_chat(alice, "direct", bob)
    server = start_daphne(tmp_path, "small-presence", {"TALKEE_PRESENCE_MAX_MEMBERS": "2"})
    try:

        async def scenario() -> list[dict]:
            watcher = SocketDevice(server.ws_url, bob.token)
            await watcher.connect()
            arriving = SocketDevice(server.ws_url, alice.token)
            await arriving.connect()
            await arriving.send({"type": "typing", "chat_id": direct["id"]})
            await watcher.until(lambda f: f["type"] == "typing")  # everything before it has arrived
            seen = [f for f in watcher.frames_seen if f["type"] == "presence" and f["user"] == alice.address]
            await arriving.close()
            await watcher.close()
            return seen

        assert len(asyncio.run(scenario())) == 1
    finally:
        stop(server.process)


def test_replay_over_several_pages_then_live_is_exactly_once_and_in_order(make_account, tmp_path) -> None:
    """With pages of 3 rows, 8 missed messages come back over three replay pages, in order,
    once; `synced` marks where the replay stopped and the next message arrives live. A
    resume from a page boundary starts right after it."""
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    server = start_daphne(tmp_path, "small-pages", {"TALKEE_SYNC_PAGE": "3"})
    try:

        async def scenario() -> tuple[list[int], int, SocketDevice, SocketDevice]:
            device = SocketDevice(server.ws_url, bob.token)
            start = (await device.connect())["cursor"]
            await device.close()
            missed = [(await asyncio.to_thread(send, alice, chat["id"])).json()["id"] for _ in range(8)]
            device = SocketDevice(server.ws_url, bob.token)
            await device.connect(cursor=start)
            live = (await asyncio.to_thread(send, alice, chat["id"])).json()["id"]
            await device.until(lambda f: f["type"] == "event" and f["message"]["id"] == live)
            await device.close()
            again = SocketDevice(server.ws_url, bob.token)
            await again.connect(cursor=device.frames[2]["cursor"])  # the end of the first page
            await again.close()
            return missed, live, device, again

        missed, live, device, again = asyncio.run(scenario())
        kinds = [f["type"] for f in device.frames_seen]
        replay = device.frames_seen[1 : kinds.index("synced")]  # after `ready`: bob's join, then the 8
        assert len(replay) > 6  # three pages at least
        assert [f["cursor"] for f in replay] == sorted({f["cursor"] for f in replay})
        assert device.message_ids() == [*missed, live]
        assert device.frames_seen[kinds.index("synced")]["cursor"] == replay[-1]["cursor"]
        assert device.frames[-1]["message"]["id"] == live and device.frames[-1]["cursor"] > replay[-1]["cursor"]
        assert again.message_ids() == [f["message"]["id"] for f in device.frames[3:] if f["type"] == "event"]
    finally:
        stop(server.process)


def test_a_member_added_later_learns_nothing_about_older_messages(make_account, live_server_daphne) -> None:
    """Edits and reactions of messages from before someone joined are ciphertext of the
    current epoch: they must not reach the newcomer, live or on replay."""
    import os

    from blake3 import blake3

    secret = os.urandom(32)
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group")
    old = send(alice, chat["id"], b"before bob", edit_hash=b64(blake3(secret).digest())).json()

    async def scenario() -> tuple[list[dict], list[int]]:
        await asyncio.to_thread(
            alice.client.post, f"/v1/chats/{chat['id']}/members", {"users": [bob.address]}, format="json"
        )
        newcomer = SocketDevice(live_server_daphne.ws_url, bob.token)
        await newcomer.connect()
        await asyncio.to_thread(
            alice.client.patch,
            f"/v1/messages/{old['id']}",
            {"edit_secret": b64(secret), "ciphertext": b64(b"edited in the new epoch")},
            format="json",
        )
        await asyncio.to_thread(
            alice.client.post,
            f"/v1/messages/{old['id']}/reactions",
            {"ciphertext": b64(b"sealed reaction"), "remove_hash": b64(os.urandom(32))},
            format="json",
        )
        fresh = (await asyncio.to_thread(send, alice, chat["id"], b"after bob")).json()
        await newcomer.until(lambda f: f["type"] == "event" and f["message"]["id"] == fresh["id"])
        live = [f for f in newcomer.frames if f["type"] in ("event", "reaction")]
        await newcomer.close()
        replay = SocketDevice(live_server_daphne.ws_url, bob.token)
        await replay.connect(cursor=0)
        await replay.close()
        return live, [
            f["message"]["id"] if f["type"] == "event" else -1
            for f in replay.frames
            if f["type"] in ("event", "reaction")
        ]

    live, replayed = asyncio.run(scenario())
    assert [f["type"] for f in live] == ["event"]
    assert replayed == [live[0]["message"]["id"]]


def test_live_event_of_a_plain_send_matches_its_replay_with_chat_timer_and_burn(
    make_account, live_server_daphne
) -> None:
    """The common send (application message, no files) takes the one-statement path, which
    builds the live frame itself: it must say what the stored row says — the chat's timer
    as expiry, burn-on-read — and a resend answers the original without using up a seq."""
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob, ttl_seconds=3600)

    async def scenario() -> None:
        sender = SocketDevice(live_server_daphne.ws_url, alice.token)
        receiver = SocketDevice(live_server_daphne.ws_url, bob.token)
        await sender.connect()
        start = (await receiver.connect())["cursor"]
        frame = send_frame(chat["id"], b"read once", burn_on_read=True, edit_hash=b64(bytes(32)))
        before = time.time()
        await sender.send(frame)
        sent = await sender.until(lambda f: f["type"] == "sent")
        live = await receiver.until(lambda f: f["type"] == "event")
        assert live["message"]["id"] == sent["id"]
        assert live["message"]["burn_on_read"] is True
        expires = datetime.fromisoformat(live["message"]["expires_at"]).timestamp()
        assert before + 3600 - 5 <= expires <= time.time() + 3600 + 5
        # the same client_message_id again: the original answer, no second event, no gap
        await sender.send(frame)
        again = await sender.until(lambda f: f["type"] == "sent")
        assert (again["id"], again["seq"]) == (sent["id"], sent["seq"])
        await sender.send(send_frame(chat["id"], b"next", ttl_seconds=60))
        following = await sender.until(lambda f: f["type"] == "sent")
        assert following["seq"] == sent["seq"] + 1
        second = await receiver.until(lambda f: f["type"] == "event")
        assert second["message"]["id"] == following["id"]
        assert datetime.fromisoformat(second["message"]["expires_at"]).timestamp() <= time.time() + 65
        await receiver.close()
        # what a replay from the database gives is what went out live
        replayer = SocketDevice(live_server_daphne.ws_url, bob.token)
        await replayer.connect(cursor=start)
        assert [f for f in replayer.frames if f["type"] == "event"] == [live, second]
        for device in (sender, replayer):
            await device.close()

    asyncio.run(scenario())
    assert Message.objects.filter(chat_id=chat["id"]).count() == 2
