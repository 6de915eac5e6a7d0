"""Stream positions without one lock: writers in different chats commit in any order, and
no device ever skips or repeats an event — live, on resume, or through long-poll sync."""

import asyncio
import json
import threading
import urllib.request
import uuid
from typing import Any

import pytest
from django.db import connection, transaction

from apps.devices.models import Device
from apps.messages.models import Message
from apps.messages.services import Sent, do_send_message
from tests.conftest import make_chat, send
from tests.messages.wsclient import SocketDevice

pytestmark = pytest.mark.django_db(transaction=True)


class OpenSend(threading.Thread):
    """A send whose transaction stays open (its own database connection) until released:
    it has drawn its stream position and not committed."""

    def __init__(self, user_id: int, chat_id: str) -> None:
        super().__init__(daemon=True)
        self.user_id, self.chat_id = user_id, chat_id
        self.drawn = threading.Event()
        self.release = threading.Event()
        self.sent: Sent | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                self.sent = do_send_message(
                    self.user_id,
                    self.chat_id,
                    client_message_id=uuid.uuid4().hex,
                    kind="application",
                    epoch=0,
                    ciphertext=b"committed last",
                )
                self.drawn.set()
                assert self.release.wait(30)
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.drawn.set()
        finally:
            connection.close()


def test_out_of_order_commits_in_two_chats_never_skip_or_repeat(make_account, live_server_daphne) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    chat_a = make_chat(alice, "direct", bob)
    chat_b = make_chat(carol, "direct", bob)
    alice_id = Device.objects.get(pk=alice.device_id).user_id

    def sync(cursor: int, timeout: float) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{live_server_daphne.url}/v1/sync?cursor={cursor}&timeout={timeout}",
            headers={"Authorization": f"Bearer {bob.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout + 20) as response:
            return dict(json.loads(response.read()))

    def ids(frames: list[dict[str, Any]]) -> list[int]:
        return [f["message"]["id"] for f in frames if f["type"] == "event"]

    def stored(chat_id: str) -> int | None:
        row = Message.objects.filter(chat_id=chat_id).values_list("id", flat=True).first()
        connection.close()
        return row

    def send_and_close(account: Any, chat_id: str, text: bytes) -> Any:
        try:
            return send(account, chat_id, text)
        finally:
            connection.close()

    async def quiet(device: SocketDevice) -> None:
        """Give any live frame time to arrive: two ping round trips half a second apart."""
        for _ in range(2):
            await device.send({"type": "ping"})
            await device.until(lambda f: f["type"] == "pong")
            await asyncio.sleep(0.5)

    async def scenario() -> dict[str, Any]:
        live = SocketDevice(live_server_daphne.ws_url, bob.token)
        await live.connect()
        start = live.cursor
        assert start is not None
        # Long-polls wait from the start (each wakes on any signal, the resumer's presence
        # too, and may return early): whatever they return must never skip.
        polls = [asyncio.ensure_future(asyncio.to_thread(sync, start, 20))]

        first = OpenSend(alice_id, chat_a["id"])  # the lower position, committed last
        first.start()
        assert await asyncio.to_thread(first.drawn.wait, 10)
        assert first.error is None and first.sent is not None
        later = asyncio.ensure_future(asyncio.to_thread(send_and_close, carol, chat_b["id"], b"committed first"))
        # A write in another chat does not wait for the open transaction.
        committed = None
        for _ in range(100):
            committed = await asyncio.to_thread(stored, chat_b["id"])
            if committed is not None:
                break
            await asyncio.sleep(0.05)
        assert committed is not None, "the send in the other chat waited for the open transaction"

        # While the lower position is in flight, no reader moves past it.
        await quiet(live)
        live_while_open = ids(live.frames)
        resumer = SocketDevice(live_server_daphne.ws_url, bob.token)
        ready = await resumer.connect(cursor=start)
        synced = next(f for f in resumer.frames_seen if f["type"] == "synced")
        await resumer.close()
        page = await asyncio.to_thread(sync, start, 0)
        polls.append(asyncio.ensure_future(asyncio.to_thread(sync, start, 20)))

        first.release.set()
        await asyncio.to_thread(first.join, 10)
        assert first.error is None
        later_id = (await later).json()["id"]
        expected = {first.sent.id, later_id}
        if not expected <= set(ids(live.frames)):
            await live.until(lambda f: expected <= set(ids(live.frames)))
        await quiet(live)
        polled = [await poll for poll in polls]
        # Resume from every cursor the devices held while the first transaction was open.
        held = {start, synced["cursor"], page["cursor"], *(p["cursor"] for p in polled)}
        held |= {f["cursor"] for f in live.frames}
        resumed = {}
        for cursor in sorted(held):
            device = SocketDevice(live_server_daphne.ws_url, bob.token)
            await device.connect(cursor=cursor)
            await device.close()
            resumed[cursor] = ids(device.frames)
        await live.close()
        return {
            "first": first.sent.id,
            "first_pos": first.sent.cursor,
            "later": later_id,
            "positions": {f["message"]["id"]: f["cursor"] for f in live.frames if f["type"] == "event"},
            "live_while_open": live_while_open,
            "resume_while_open": (ready["cursor"], synced["cursor"], ids(resumer.frames)),
            "sync_while_open": (page["cursor"], ids(page["events"])),
            "live": ids(live.frames),
            "polled": [(p["cursor"], ids(p["events"])) for p in polled],
            "resumed": resumed,
            "sync_after": ids(sync(start, 0)["events"]),
        }

    seen = asyncio.run(scenario())
    first, later = seen["first"], seen["later"]
    # nothing past the open position went out, live or on resume or by sync ...
    assert seen["live_while_open"] == []
    ready_cursor, synced_cursor, replayed = seen["resume_while_open"]
    assert replayed == [] and ready_cursor < seen["first_pos"] and synced_cursor < seen["first_pos"]
    page_cursor, page_ids = seen["sync_while_open"]
    assert page_ids == [] and page_cursor < seen["first_pos"]
    positions = seen["positions"]
    # ... and once it committed, each device got both, once, in stream order
    assert sorted(seen["live"]) == [first, later] and len(seen["live"]) == 2
    for cursor, events in seen["polled"]:
        assert events == [m for m in (first, later) if positions[m] <= cursor], (cursor, events)
    assert seen["sync_after"] == [first, later]
    assert positions[first] < positions[later]
    for cursor, rest in seen["resumed"].items():
        assert rest == [m for m in (first, later) if positions[m] > cursor], (cursor, rest)
