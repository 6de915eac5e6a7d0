"""Reads of the device stream: replay after a cursor, chat history."""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import F, QuerySet, Subquery

from apps.messages import stream
from apps.messages.frames import inbox_frame, message_frame, message_object, reaction_frame
from apps.messages.models import DeviceCursor, DeviceInbox, Message, Reaction, StreamPosition
from apps.messages.stream import current_position


@dataclass
class StreamPage:
    frames: list[dict[str, Any]]
    # Everything relevant up to here has been returned: the next page starts after it.
    upto: int
    more: bool
    # The horizon this replay is pinned to (pass it as `upto` for the next pages).
    end: int


def effective_cursor(device_id: int, requested: int | None) -> int:
    """Where a device resumes: the cursor it sends (or the stored one), never below the
    position at which the device was created."""
    stored = DeviceCursor.objects.filter(device_id=device_id).values("pos", "floor").first()
    return _resume_at(stored, requested, current_position)


def _resume_at(stored: Mapping[str, Any] | None, requested: int | None, position: Callable[[], int]) -> int:
    floor = stored["floor"] if stored else 0
    start = requested if requested is not None else (stored["pos"] if stored else position())
    return max(start, floor)


def resume(user_id: int, device_id: int, requested: int | None) -> tuple[int, StreamPage]:
    """A connecting device's cursor (as `effective_cursor`) and the first page of its
    replay, together (one thread hop on the socket; the stored cursor and the stream's end
    in one query). Call it only once the socket has joined its live groups: the page's
    horizon is read here, so nothing falls between the two."""
    stored, end = _cursor_and_end(device_id)
    cursor = _resume_at(stored, requested, lambda: end)
    return cursor, stream_after(user_id, device_id, cursor, upto=end)


def _cursor_and_end(device_id: int) -> tuple[dict[str, int] | None, int]:
    """The device's stored cursor and the stream's readable end, in one query."""
    if stream.uses_sequence():
        table = DeviceCursor._meta.db_table
        sql = (
            f"WITH {stream.PERSISTED_CTE} SELECT {stream.PERSISTED}, c.pos, c.floor "  # noqa: S608
            f"FROM drawn LEFT JOIN {table} c ON c.device_id = %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [device_id])
            end, pos, floor = cursor.fetchone()
        return (None if pos is None else {"pos": int(pos), "floor": int(floor)}), int(end or 0)
    end_now = StreamPosition.objects.filter(pk=1).values("pos")[:1]
    row = DeviceCursor.objects.filter(device_id=device_id).values("pos", "floor", end=Subquery(end_now)).first()
    if row is None:
        return None, current_position()
    return {"pos": row["pos"], "floor": row["floor"]}, int(row["end"] or 0)


def _visible_rows(user_id: int, device_id: int, after: int, upto: int) -> tuple[QuerySet[Any], ...]:
    """The three sources of a device's stream in (after, upto]: messages and reactions of
    its user's chats from when the user joined, and rows addressed to the device."""
    window = {"pos__gt": after, "pos__lte": upto}
    messages = Message.objects.filter(
        chat__memberships__user_id=user_id, seq__gt=F("chat__memberships__joined_seq"), **window
    )
    reactions = Reaction.objects.filter(
        chat__memberships__user_id=user_id, message__seq__gt=F("chat__memberships__joined_seq"), **window
    )
    return messages, reactions, DeviceInbox.objects.filter(device_id=device_id, **window)


def stream_after(
    user_id: int, device_id: int, cursor: int, *, upto: int | None = None, limit: int | None = None
) -> StreamPage:
    """Every row after `cursor` that this device may see, in stream order.

    `upto` pins the end (the stream's committed end at the first page), so that the three
    sources are read against one consistent horizon."""
    limit = limit or settings.TALKEE_SYNC_PAGE
    end = current_position() if upto is None else upto
    if end <= cursor:
        # Nothing can lie in (cursor, end]: a device that is up to date (most reconnects)
        # costs one query here instead of four.
        return StreamPage([], end, more=False, end=end)
    messages, reactions, inbox = (
        list(rows.order_by("pos")[:limit]) for rows in _visible_rows(user_id, device_id, cursor, end)
    )
    full = [rows[-1].pos for rows in (messages, reactions, inbox) if len(rows) == limit]
    page_end = min(full) if full else end
    frames = (
        [message_frame(m) for m in messages if m.pos <= page_end]
        + [reaction_frame(r) for r in reactions if r.pos <= page_end]
        + [inbox_frame(i) for i in inbox if i.pos <= page_end]
    )
    frames.sort(key=lambda frame: frame["cursor"])
    return StreamPage(frames, page_end, more=page_end < end, end=end)


def relevant_positions(user_id: int, device_id: int, after: int, upto: int) -> list[int]:
    """Positions in (after, upto] this device should have received (for safe acks)."""
    return sorted(
        pos for rows in _visible_rows(user_id, device_id, after, upto) for pos in rows.values_list("pos", flat=True)
    )


def history(
    chat_id: uuid.UUID | str, joined_seq: int, after_seq: int, limit: int, before_seq: int | None = None
) -> list[dict[str, Any]]:
    """A page of a chat's messages (ciphertext only), from when the member joined."""
    rows = Message.objects.filter(chat_id=chat_id, seq__gt=max(after_seq, joined_seq))
    if before_seq is not None:
        rows = rows.filter(seq__lt=before_seq).order_by("-seq")[:limit]
        return [message_object(m) for m in reversed(list(rows))]
    return [message_object(m) for m in rows.order_by("seq")[:limit]]
