"""Cross-instance messages: the `message`, `mls_welcome` and `call` envelopes (outgoing
builders and incoming handlers).

The chat's home orders it: it assigns every `seq` and checks every commit's epoch. From the home:

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

Outgoing envelopes are queued inside the caller's transaction: they commit with the change
they carry, or not at all. Incoming ones are applied in the inbox's transaction; a forwarded
send's files are pulled from the sender's instance before that, with no transaction open
(`_prepare_message`)."""

import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from rest_framework.exceptions import ValidationError

from apps.accounts.federation import own_user
from apps.blobs.services import do_pull_blobs
from apps.chats.federation import chat_by_id, homed_at, homed_here
from apps.chats.models import Membership
from apps.chats.selectors import remote_domains
from apps.chats.services import notify_members
from apps.core import metrics
from apps.core.api_fields import validated
from apps.core.b64 import b64, b64_or_none, unb64, unb64_or_none
from apps.core.errors import ServiceError
from apps.devices.models import Device
from apps.federation.registry import Refused, RetryLater, register_handler
from apps.federation.remote import PeerUnavailable, domain_of
from apps.federation.services import send
from apps.messages import services
from apps.messages.api import serializers
from apps.messages.delivery import add_inbox_rows, chat_group, encode, publish_on_commit
from apps.messages.models import DeviceInbox, Message, Reaction
from apps.messages.signals import send_call_signalled_on_commit


def register() -> None:
    register_handler("message", message, prepare=_prepare_message, needs_prepare=_pulls_files)
    register_handler("mls_welcome", mls_welcome)
    register_handler("call", call)


# --- outgoing -------------------------------------------------------------------------


def deliver_message(
    message: Message,
    domains: Iterable[str],
    files: list[dict[str, Any]] | None = None,
    wake: list[str] | None = None,
) -> None:
    """A message the home stored, to every instance with a member (no sender), with its
    files' ids and padded sizes (the bytes stay here; peers fetch ranges), and to each
    instance the addresses of its own users the message mentions (`wake`, for its pushes)."""
    body = {
        "op": "deliver",
        "chat_id": str(message.chat_id),
        "seq": message.seq,
        "epoch": message.epoch,
        "kind": message.kind,
        "client_message_id": message.client_message_id,
        "ciphertext": b64_or_none(message.ciphertext),
        "edit_hash": b64_or_none(message.edit_hash),
        "expires_at": message.expires_at.isoformat() if message.expires_at else None,
        "burn_on_read": message.burn_on_read,
        "blobs": files or [],
    }
    for domain in sorted(set(domains)):
        theirs = [a for a in wake or () if domain_of(a) == domain]
        send("message", domain, {**body, "wake": theirs} if theirs else body)


def message_changed(messages: Iterable[Message]) -> None:
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
                "ciphertext": b64_or_none(message.ciphertext),
                "edited_at": message.edited_at.isoformat() if message.edited_at else None,
                "deleted": message.deleted_at is not None,
            }
            for domain in sorted(domains):
                send("message", domain, body)


def reaction_changed(reaction: Reaction, seq: int) -> None:
    """A reaction the home added or removed, to every instance with a member (no actor)."""
    body = {
        "op": "reaction",
        "chat_id": str(reaction.chat_id),
        "seq": seq,
        "reaction_id": reaction.id,
        "ciphertext": b64_or_none(reaction.ciphertext),
        "remove_hash": b64(reaction.remove_hash),
        "deleted": reaction.deleted_at is not None,
    }
    for domain in sorted(remote_domains(reaction.chat_id)):
        send("message", domain, body)


def request_message_change(
    home: str, chat_id: uuid.UUID | str, actor: str, action: str, fields: dict[str, Any]
) -> None:
    """An edit, deletion, burn or reaction change asked for here, in a chat homed elsewhere."""
    send("message", home, {"op": "change", "chat_id": str(chat_id), "actor": actor, "action": action, **fields})


def send_welcomes(chat_id: uuid.UUID | str, devices: list[Device], payload: bytes) -> None:
    """A Welcome for remote devices: one envelope per instance, naming its devices."""
    by_domain: dict[str, list[dict[str, str]]] = {}
    for device in devices:
        by_domain.setdefault(device.user.domain, []).append(
            {"user": device.user.username, "client_device_id": str(device.client_device_id)}
        )
    for domain, targets in sorted(by_domain.items()):
        send("mls_welcome", domain, {"chat_id": str(chat_id), "devices": targets, "payload": b64(payload)})


def forward_send(home: str, chat_id: uuid.UUID | str, sender: str, fields: dict[str, Any]) -> None:
    """A local member's send in a chat homed elsewhere: to the home, which orders it."""
    send("message", home, {"op": "send", "chat_id": str(chat_id), "sender": sender, **fields})


def reject_send(origin: str, chat_id: str, client_message_id: str, code: str, message: str) -> None:
    send(
        "message",
        origin,
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
    send("message", origin, body)


def relay_call_signal(chat_id: uuid.UUID | str, payload: str) -> int:
    """A call signal (opaque: sealed by the caller's app) for the chat's members on other
    instances, one envelope to each; like every envelope body it is emptied once delivered
    and handled. Returns how many instances it went to."""
    domains = sorted(remote_domains(chat_id))
    with transaction.atomic():
        for domain in domains:
            send("call", domain, {"chat_id": str(chat_id), "payload": payload})
    return len(domains)


# --- incoming -------------------------------------------------------------------------


def _pulls_files(body: dict[str, Any]) -> bool:
    return body.get("op") == "send" and bool(body.get("blobs"))


def _prepare_message(origin: str, body: dict[str, Any]) -> list[uuid.UUID] | ServiceError | None:
    """Before a forwarded send is applied, with no transaction open: its files, pulled from
    the sender's instance (only a member may attach files; a repeat pulls nothing). Returns
    the blob ids, or the refusal the send is answered with."""
    if body.get("op") != "send" or not body.get("blobs"):
        return None
    chat = chat_by_id(body["chat_id"])
    if chat is None or chat.home:
        return None  # refused when applied
    sender = own_user(origin, body.get("sender"))
    try:
        if not Membership.objects.filter(chat=chat, user=sender).exists():
            raise ServiceError("No such chat.", code="chat_not_found")
        return do_pull_blobs(origin, chat.id, body["blobs"], sender.pk)
    except PeerUnavailable as exc:
        raise RetryLater(str(exc)) from exc
    except ServiceError as exc:
        return exc


def message(origin: str, body: dict[str, Any], prepared: list[uuid.UUID] | ServiceError | None = None) -> None:
    op = body.get("op")
    if op == "send":
        _send_at_home(origin, body, prepared)
    elif op == "deliver":
        chat = homed_at(origin, body["chat_id"])
        if chat is None:
            raise Refused("no member of this chat lives here")
        services.do_store_delivered(chat.id, body)
    elif op == "rejected":
        _rejected(origin, body)
    elif op == "change":
        _change_at_home(origin, body)
    elif op == "change_rejected":
        _rejected(origin, body)
    elif op in ("changed", "reaction"):
        chat = homed_at(origin, body["chat_id"])
        if chat is None:
            raise Refused("no member of this chat lives here")
        (services.do_apply_changed if op == "changed" else services.do_apply_reaction)(chat.id, body)
    else:
        raise Refused(f"unknown op {op!r}")


def _change_at_home(origin: str, body: dict[str, Any]) -> None:
    """An edit, deletion, burn or reaction change asked for on another instance: the same
    service as a local request, with the actor's own rights (membership, the edit or
    remove secret, an admin's role as the home knows it); the result goes out to every
    instance with a member as for a local change. The asking instance already checked
    what its copy allows; a refusal here goes back to it as `change_rejected` (the action
    and seq, or the reaction, and no actor)."""
    chat = homed_here(body["chat_id"])
    actor = own_user(origin, body.get("actor"))
    action = body.get("action")
    try:
        if action == "unreact":
            data = validated(serializers.RemoveReactionSerializer, {"remove_secret": body.get("remove_secret")})
            reaction_id = body.get("reaction_id")
            if not isinstance(reaction_id, int) or not chat.id == _reaction_chat(reaction_id):
                raise Refused("no such reaction in this chat")
            services.do_remove_reaction(actor.pk, reaction_id, data.get("remove_secret"))
            return
        message_id = Message.objects.filter(chat=chat, seq=int(body["seq"])).values_list("pk", flat=True).first()
        if message_id is None:
            raise Refused("no such message")
        if action == "edit":
            data = validated(
                serializers.EditSerializer,
                {"edit_secret": body.get("edit_secret"), "ciphertext": body.get("ciphertext")},
            )
            services.do_edit_message(actor.pk, message_id, data["edit_secret"], data["ciphertext"])
        elif action == "delete":
            data = validated(serializers.DeleteSerializer, {"edit_secret": body.get("edit_secret")})
            services.do_delete_message(actor.pk, message_id, data.get("edit_secret"))
        elif action == "burn":
            services.do_burn_message(actor.pk, message_id)
        elif action == "react":
            data = validated(
                serializers.ReactionSerializer,
                {"ciphertext": body.get("ciphertext"), "remove_hash": body.get("remove_hash")},
            )
            services.do_add_reaction(actor.pk, message_id, data["ciphertext"], data["remove_hash"])
        else:
            raise Refused(f"unknown action {action!r}")
    except ServiceError as exc:
        reject_change(origin, str(chat.id), body, exc.code, exc.message)
    except ValidationError as exc:
        reject_change(origin, str(chat.id), body, "invalid_input", str(exc.detail))


def _reaction_chat(reaction_id: int) -> uuid.UUID | None:
    return Reaction.objects.filter(pk=reaction_id).values_list("chat_id", flat=True).first()


def _send_at_home(origin: str, body: dict[str, Any], prepared: list[uuid.UUID] | ServiceError | None) -> None:
    """A remote member's send: the same path as a local send (membership, epoch, seq,
    fan-out to every instance with a member, the sender's included). A refusal goes back
    to the origin naming only the client_message_id. Its files were pulled beforehand
    (`_prepare_message`)."""
    chat_id = uuid.UUID(str(body["chat_id"]))
    client_message_id = str(body["client_message_id"])
    chat = chat_by_id(chat_id)
    if chat is None or chat.home:
        raise Refused("this instance is not the chat's home")
    sender = own_user(origin, body.get("sender"))
    welcome = body.get("welcome")
    try:
        with transaction.atomic():
            if isinstance(prepared, ServiceError):
                raise prepared
            if body.get("blobs") and prepared is None:
                raise RetryLater("the files of a forwarded send were not pulled yet")
            translated = None
            if welcome is not None:
                device_ids = _device_ids(welcome["devices"])
                if len(device_ids) != len(welcome["devices"]):
                    raise ServiceError(
                        "A Welcome may only go to devices of the chat's members.", code="invalid_welcome"
                    )
                translated = {"device_ids": device_ids, "payload": unb64_or_none(welcome["payload"])}
            sent = services.do_send_message(
                sender.pk,
                chat_id,
                client_message_id=client_message_id,
                kind=str(body["kind"]),
                epoch=int(body["epoch"]),
                ciphertext=unb64(body["ciphertext"]),
                edit_hash=unb64_or_none(body.get("edit_hash")),
                ttl_seconds=body.get("ttl_seconds"),
                burn_on_read=bool(body.get("burn_on_read")),
                welcome=translated,
                blob_ids=prepared or [],
                wake=services.peer_wake_list(body.get("wake")),
            )
            metrics.MESSAGES_ACCEPTED.labels(via="federation").inc(int(sent.created))
    except ServiceError as exc:
        reject_send(origin, str(chat_id), client_message_id, exc.code, exc.message)


def _device_ids(targets: list[dict[str, Any]]) -> list[int]:
    """This instance's ids of devices named by (user, client_device_id)."""
    ids = []
    for target in targets:
        pk = (
            Device.objects.filter(
                user__username=str(target["user"]), client_device_id=uuid.UUID(str(target["client_device_id"]))
            )
            .values_list("pk", flat=True)
            .first()
        )
        if pk is not None:
            ids.append(pk)
    return ids


def _rejected(origin: str, body: dict[str, Any]) -> None:
    """The home refused a send (or a message change) forwarded from here. Every local member's
    devices hear of it; only the author's recognise the client_message_id (no sender is recorded)."""
    chat = homed_at(origin, body["chat_id"])
    if chat is None:
        return
    error = body.get("error") or {}
    local = list(
        Membership.objects.filter(chat=chat, user__domain=settings.TALKEE_DOMAIN).values_list("user_id", flat=True)
    )
    detail = {"code": str(error.get("code", ""))[:64], "message": str(error.get("message", ""))[:200]}
    if body.get("op") == "change_rejected":
        action = str(body.get("action", ""))[:16]
        which: dict[str, int] = {"seq": int(body["seq"])}
        home_reaction = body.get("reaction_id")
        if isinstance(home_reaction, int):
            # a reaction removal: the reaction and its message as this instance's devices know them
            mirrored = Reaction.objects.filter(chat=chat, home_id=home_reaction).values("pk", "message__seq").first()
            if mirrored is not None:
                which = {"seq": mirrored["message__seq"], "reaction_id": mirrored["pk"]}
        notify_members(chat, local, "change_rejected", action=action, error=detail, **which)
    else:
        notify_members(
            chat, local, "send_rejected", client_message_id=str(body["client_message_id"])[:64], error=detail
        )


def mls_welcome(origin: str, body: dict[str, Any]) -> None:
    """A Welcome the home accepted with its commit, for devices that live here."""
    chat = homed_at(origin, body["chat_id"])
    if chat is None:
        raise Refused("no member of this chat lives here")
    payload = unb64(body["payload"])
    if not payload or len(payload) > settings.TALKEE_HANDSHAKE_MAX_BYTES:
        raise Refused("a Welcome must be 1 byte to TALKEE_HANDSHAKE_MAX_BYTES")
    local = [t for t in body["devices"] if domain_of(str(t["user"])) == settings.TALKEE_DOMAIN]
    ids = Device.objects.filter(pk__in=_device_ids(local), user__memberships__chat=chat).values_list("pk", flat=True)
    add_inbox_rows(DeviceInbox(device_id=pk, kind=DeviceInbox.Kind.WELCOME, chat=chat, payload=payload) for pk in ids)


def call(origin: str, body: dict[str, Any]) -> None:
    """A call signal from a member on `origin` (opaque, sealed end to end): passed to this
    instance's members' sockets like a local one, never stored, and announced after commit
    like a local one (push rings this instance's members whose app is closed)."""
    chat = chat_by_id(body.get("chat_id"))
    if chat is None or not Membership.objects.filter(chat=chat, user__domain=origin).exists():
        raise Refused("no member of the origin in this chat")
    payload = body.get("payload")
    if not isinstance(payload, str) or not 0 < len(payload) <= settings.TALKEE_CALL_PAYLOAD_MAX_BYTES * 4 // 3 + 4:
        raise Refused("a call payload is base64 of at most TALKEE_CALL_PAYLOAD_MAX_BYTES")
    signal = {"type": "call", "chat_id": str(chat.id), "payload": payload}
    publish_on_commit([(chat_group(chat.id), {"type": "chat.signal", "text": encode(signal)})])
    send_call_signalled_on_commit(chat.id, None)
