"""Writing to the device stream and fanning out after commit.

The database and the cursor are the truth; live frames over the channel layer are an
optimisation (at-most-once with the pub/sub layer). Frames are serialised once per
event and forwarded as text by every socket, with no ORM work per socket.
"""

import asyncio
import concurrent.futures
import json
import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import DatabaseError, transaction

from apps.core import metrics
from apps.core.eventloop import server_loop_from_a_thread
from apps.devices.realtime import device_group
from apps.messages.frames import inbox_frame
from apps.messages.models import DeviceInbox
from apps.messages.signals import send_device_events_on_commit
from apps.messages.stream import allocate_positions, wait_persisted

logger = logging.getLogger("talkee.delivery")


def chat_group(chat_id: object) -> str:
    return f"chat.{chat_id}"


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


def _send_now(sends: list[tuple[str, dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    if layer is None or not sends:
        return

    async def _go() -> None:
        with metrics.FANOUT_SECONDS.time():
            for group, event in sends:
                await layer.group_send(group, event)

    loop = server_loop_from_a_thread()
    if loop is None:  # a Celery worker, a management command, a test client
        async_to_sync(_go)()
        return
    # Inside the server: hand the publish to its loop and free this worker thread at
    # once. Live frames are an optimisation; a lost one is replayed from the database.
    future = asyncio.run_coroutine_threadsafe(_go(), loop)
    future.add_done_callback(_log_publish_failure)


def _log_publish_failure(future: "concurrent.futures.Future[None]") -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning(
            "live publish failed; devices catch up from their cursor",
            extra={"error_type": type(future.exception()).__name__},
        )


def publish_on_commit(sends: list[tuple[str, dict[str, Any]]], inflight: list[int] | None = None) -> None:
    """Hand events to the channel layer once the surrounding transaction commits and no
    lower stream position is still in flight (a socket forwards what it gets, and a client
    resumes after the highest position it processed). `inflight`: the lower positions the
    writer saw in flight, when it looked itself (None: look after commit)."""
    if sends:
        transaction.on_commit(lambda: _publish_in_order(sends, inflight))


def _publish_in_order(sends: list[tuple[str, dict[str, Any]]], inflight: list[int] | None) -> None:
    highest = max((int(event["cursor"]) for _, event in sends if "cursor" in event), default=0)
    try:
        in_order = not highest or wait_persisted(highest, inflight)
    except DatabaseError:
        in_order = False
    if not in_order:
        # A lower position's writer is stuck in an open transaction (or the database did
        # not answer): publishing now could let a client move past it. The devices get
        # these rows from their cursor instead; the write itself has committed.
        logger.warning("live publish skipped behind a stuck writer; devices catch up from their cursor")
        return
    _send_now(sends)


def chat_event(frame: dict[str, Any], seq: int) -> dict[str, Any]:
    """A live frame for a chat's sockets. `seq` is the message it concerns: sockets of
    members who joined after that message drop it (new ciphertext of an older message,
    an edit or a reaction, is readable in the current epoch). A tombstone carries no
    ciphertext and goes to everyone, so a member who left and came back can drop the
    deleted message from the copy they kept."""
    body = frame.get("message") or frame.get("reaction") or {}
    return {
        "type": "chat.frame",
        "cursor": frame["cursor"],
        "chat_id": frame["chat_id"],
        "seq": None if body.get("deleted") else seq,
        "text": encode(frame),
    }


def device_event(frame: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "device.frame", "cursor": frame["cursor"], "text": encode(frame), **extra}


def add_inbox_rows(rows: Iterable[DeviceInbox], *, alert: bool = False) -> list[DeviceInbox]:
    """Give each row its own stream position, store them in bulk, publish after commit.

    Welcomes, and with `alert` every row with a chat, are also announced after commit
    (device_events_stored: a device whose app is closed hears of them by push)."""
    rows = list(rows)
    if not rows:
        return rows
    for row, position in zip(rows, allocate_positions(len(rows)), strict=True):
        row.pos = position
    DeviceInbox.objects.bulk_create(rows)
    sends = []
    for row in rows:
        extra: dict[str, Any] = {}
        if row.kind == DeviceInbox.Kind.CHAT and row.data:
            # Sockets join or leave the chat's live group when membership changes.
            extra = {
                "chat_id": str(row.chat_id),
                "membership": row.data.get("change"),
                "members": row.data.get("members"),
                "joined_seq": row.data.get("joined_seq"),
            }
        sends.append((device_group(row.device_id), device_event(inbox_frame(row), **extra)))
    publish_on_commit(sends)
    concerned = [
        (row.device_id, str(row.chat_id))
        for row in rows
        if row.chat_id is not None and (alert or row.kind == DeviceInbox.Kind.WELCOME)
    ]
    if concerned:
        send_device_events_on_commit(concerned)
    return rows
