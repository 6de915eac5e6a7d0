"""Outgoing cross-instance chat traffic: what a local change sends to which peers.

The chat's home (the creator's instance) orders it: it assigns every `seq`, checks every
commit's epoch and owns the member list. From the home:

- `membership` — a snapshot of the chat and its full member list after every change, to
  every instance that has (or just lost) a member. Snapshots are idempotent by nature.
- `message` (`op: deliver`) — each stored message with its seq, no sender, to every
  instance with a member.
- `message` (`op: changed`) — a stored message's new state (edited, or tombstoned by a
  deletion, a burn or its expiry), by seq; `op: reaction` — a reaction added or removed,
  by the home's reaction id. Neither names who asked.
- `mls_welcome` — a Welcome for devices living on the destination.

From a non-home instance to the home:

- `message` (`op: send`) — a local member's send. It names the sender (`user@origin`):
  the home needs it for the membership check, and drops it like a local send's. The home
  answers with the usual `deliver` (to every instance, the sender's included) or with an
  `op: rejected` naming only the client_message_id.

- `message` (`op: change`) — an edit, deletion, burn, reaction or reaction removal asked
  for here (`action`), naming the actor for the home's checks (membership, edit or
  remove secret, admin role); the home applies it and fans out `changed` / `reaction`.

Any instance, for its own users: `device_list` — a device added or revoked, to every
instance sharing a chat with the user.

Everything here runs inside the caller's transaction: the outbox rows commit with the
change they carry, or not at all.
"""

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

from apps.chats.models import Chat, Membership
from apps.core.api_fields import b64
from apps.federation.remote import device_entry
from apps.federation.services import queue_envelope

if TYPE_CHECKING:
    from apps.devices.models import Device
    from apps.messages.models import Message, Reaction


def remote_domains(chat_id: uuid.UUID | str) -> set[str]:
    """Instances other than this one with a member in the chat."""
    return set(
        Membership.objects.filter(chat_id=chat_id)
        .exclude(user__domain=settings.TALKEE_DOMAIN)
        .values_list("user__domain", flat=True)
        .distinct()
    )


def _b64_or_none(value: bytes | memoryview | None) -> str | None:
    return None if value is None else b64(value)


def snapshot(chat: Chat) -> dict[str, Any]:
    members = Membership.objects.filter(chat=chat).select_related("user").order_by("pk")
    return {
        "op": "snapshot",
        "chat": {
            "id": str(chat.id),
            "kind": chat.kind,
            "epoch": chat.epoch,
            "next_seq": chat.next_seq,
            "mls_group_id": _b64_or_none(chat.mls_group_id),
            "encrypted_name": _b64_or_none(chat.encrypted_name),
            "name_epoch": chat.name_epoch,
            "ttl_seconds": chat.ttl_seconds,
        },
        "members": [{"user": m.user.username, "role": m.role, "joined_seq": m.joined_seq} for m in members],
    }


def share_chat(chat_id: uuid.UUID | str, also: Iterable[str] = ()) -> None:
    """After a membership (or name) change at the home: the snapshot to every instance
    with a member, and to `also` (instances that just lost their last member)."""
    domains = remote_domains(chat_id) | set(also)
    if not domains:
        return
    Chat.objects.filter(pk=chat_id, federated=False).update(federated=True)
    chat = Chat.objects.get(pk=chat_id)
    body = snapshot(chat)
    for domain in sorted(domains):
        queue_envelope(domain, "membership", body)


def deliver_message(message: "Message", domains: Iterable[str], files: list[dict[str, Any]] | None = None) -> None:
    """A message the home stored, to every instance with a member (no sender), with its
    files' ids and padded sizes (the bytes stay here; peers fetch ranges)."""
    body = {
        "op": "deliver",
        "chat_id": str(message.chat_id),
        "seq": message.seq,
        "epoch": message.epoch,
        "kind": message.kind,
        "client_message_id": message.client_message_id,
        "ciphertext": _b64_or_none(message.ciphertext),
        "edit_hash": _b64_or_none(message.edit_hash),
        "expires_at": message.expires_at.isoformat() if message.expires_at else None,
        "burn_on_read": message.burn_on_read,
        "blobs": files or [],
    }
    for domain in sorted(set(domains)):
        queue_envelope(domain, "message", body)


def message_changed(messages: Iterable["Message"]) -> None:
    """Messages the home edited or tombstoned: their new state, by seq, to every instance
    with a member of their chat (no actor)."""
    by_chat: dict[uuid.UUID, list[Message]] = {}
    for message in messages:
        by_chat.setdefault(message.chat_id, []).append(message)
    for chat_id, changed in by_chat.items():
        domains = remote_domains(chat_id)
        for message in changed:
            body = {
                "op": "changed",
                "chat_id": str(chat_id),
                "seq": message.seq,
                "ciphertext": _b64_or_none(message.ciphertext),
                "edited_at": message.edited_at.isoformat() if message.edited_at else None,
                "deleted": message.deleted_at is not None,
            }
            for domain in sorted(domains):
                queue_envelope(domain, "message", body)


def reaction_changed(reaction: "Reaction", seq: int) -> None:
    """A reaction the home added or removed, to every instance with a member (no actor)."""
    body = {
        "op": "reaction",
        "chat_id": str(reaction.chat_id),
        "seq": seq,
        "reaction_id": reaction.id,
        "ciphertext": _b64_or_none(reaction.ciphertext),
        "remove_hash": b64(reaction.remove_hash),
        "deleted": reaction.deleted_at is not None,
    }
    for domain in sorted(remote_domains(reaction.chat_id)):
        queue_envelope(domain, "message", body)


def request_message_change(
    home: str, chat_id: uuid.UUID | str, actor: str, action: str, fields: dict[str, Any]
) -> None:
    """An edit, deletion, burn or reaction change asked for here, in a chat homed elsewhere."""
    queue_envelope(
        home, "message", {"op": "change", "chat_id": str(chat_id), "actor": actor, "action": action, **fields}
    )


def send_welcomes(chat_id: uuid.UUID | str, devices: list["Device"], payload: bytes) -> None:
    """A Welcome for remote devices: one envelope per instance, naming its devices."""
    by_domain: dict[str, list[dict[str, str]]] = {}
    for device in devices:
        by_domain.setdefault(device.user.domain, []).append(
            {"user": device.user.username, "client_device_id": str(device.client_device_id)}
        )
    for domain, targets in sorted(by_domain.items()):
        queue_envelope(domain, "mls_welcome", {"chat_id": str(chat_id), "devices": targets, "payload": b64(payload)})


def forward_send(home: str, chat_id: uuid.UUID | str, sender: str, fields: dict[str, Any]) -> None:
    """A local member's send in a chat homed elsewhere: to the home, which orders it."""
    queue_envelope(home, "message", {"op": "send", "chat_id": str(chat_id), "sender": sender, **fields})


def request_change(home: str, chat_id: uuid.UUID | str, actor: str, action: str, fields: dict[str, Any]) -> None:
    """A member change asked for on a non-home instance (`add`, `remove`, `role`, `name`)."""
    queue_envelope(
        home, "membership", {"op": "request", "chat_id": str(chat_id), "actor": actor, "action": action, **fields}
    )


def reject_send(origin: str, chat_id: str, client_message_id: str, code: str, message: str) -> None:
    queue_envelope(
        origin,
        "message",
        {
            "op": "rejected",
            "chat_id": chat_id,
            "client_message_id": client_message_id,
            "error": {"code": code, "message": message[:200]},
        },
    )


def reject_change(origin: str, chat_id: str, request: dict[str, Any], code: str, message: str) -> None:
    """The home refused a message change asked for on `origin`: which one (action, seq; a
    reaction removal names the home's reaction id instead), and why — not who asked."""
    body: dict[str, Any] = {
        "op": "change_rejected",
        "chat_id": chat_id,
        "action": request.get("action"),
        "seq": request.get("seq", 0),
        "error": {"code": code, "message": message[:200]},
    }
    if isinstance(request.get("reaction_id"), int):
        body["reaction_id"] = request["reaction_id"]
    queue_envelope(origin, "message", body)


def announce_device(device: "Device", change: str) -> None:
    """A local user's device added or revoked: to every instance sharing a chat with them."""
    domains = set(
        Membership.objects.filter(chat__memberships__user_id=device.user_id)
        .exclude(user__domain=settings.TALKEE_DOMAIN)
        .values_list("user__domain", flat=True)
        .distinct()
    )
    body = {"user": device.user.username, "change": change, **device_entry(device)}
    for domain in sorted(domains):
        queue_envelope(domain, "device_list", body)


def relay_call_signal(chat_id: uuid.UUID | str, payload: str) -> int:
    """A call signal (opaque: sealed by the caller's app) for the chat's members on other
    instances, one envelope to each; like every envelope body it is emptied once delivered
    and handled. Returns how many instances it went to."""
    domains = sorted(remote_domains(chat_id))
    with transaction.atomic():
        for domain in domains:
            queue_envelope(domain, "call", {"chat_id": str(chat_id), "payload": payload})
    return len(domains)
