"""The JSON frames devices receive — one shape for WebSocket, long-poll and history."""

from datetime import datetime
from typing import Any

from apps.core.b64 import b64_or_none
from apps.messages.models import DeviceInbox, Message, Reaction


def message_object(message: Message) -> dict[str, Any]:
    return message_fields(
        message_id=message.id,
        seq=message.seq,
        chat_id=str(message.chat_id),
        kind=message.kind,
        epoch=message.epoch,
        ciphertext=message.ciphertext,
        edited_at=message.edited_at,
        deleted=message.deleted_at is not None,
        expires_at=message.expires_at,
        burn_on_read=message.burn_on_read,
        created=message.created,
    )


def message_fields(
    *,
    message_id: int,
    seq: int,
    chat_id: str,
    kind: str,
    epoch: int,
    ciphertext: bytes | memoryview | None,
    edited_at: datetime | None,
    deleted: bool,
    expires_at: datetime | None,
    burn_on_read: bool,
    created: datetime,
) -> dict[str, Any]:
    """A message's JSON from plain values (the fast send path has no model instance)."""
    return {
        "id": message_id,
        "seq": seq,
        "chat_id": chat_id,
        "kind": kind,
        "epoch": epoch,
        "ciphertext": b64_or_none(ciphertext),
        "edited_at": edited_at.isoformat() if edited_at else None,
        "deleted": deleted,
        "expires_at": expires_at.isoformat() if expires_at else None,
        "burn_on_read": burn_on_read,
        "created": created.isoformat(),
    }


def message_frame(message: Message) -> dict[str, Any]:
    return event_frame(message.pos, str(message.chat_id), message_object(message))


def event_frame(pos: int, chat_id: str, message: dict[str, Any]) -> dict[str, Any]:
    return {"type": "event", "cursor": pos, "chat_id": chat_id, "message": message}


def reaction_frame(reaction: Reaction) -> dict[str, Any]:
    return {
        "type": "reaction",
        "cursor": reaction.pos,
        "chat_id": str(reaction.chat_id),
        "reaction": {
            "id": reaction.id,
            "message_id": reaction.message_id,
            "ciphertext": b64_or_none(reaction.ciphertext),
            "deleted": reaction.deleted_at is not None,
        },
    }


def inbox_frame(row: DeviceInbox) -> dict[str, Any]:
    return {
        "type": "device_event",
        "cursor": row.pos,
        "kind": row.kind,
        "chat_id": str(row.chat_id) if row.chat_id else None,
        "payload": b64_or_none(row.payload),
        "data": row.data,
        "from_device_id": row.from_device_id,
    }
