"""Incoming cross-instance chat traffic: one handler per envelope kind.

Handlers run in the `handle_inbox` task, one origin at a time and in arrival order (see
services.handle_pending), each inside the transaction that marks the envelope handled,
so an envelope takes effect exactly once. They are idempotent besides: a repeated
message is found by its seq, a snapshot that changes nothing notifies nobody, a device
already mirrored is not added twice.

Who may say what: only a chat's home speaks for the chat (snapshots, ordered messages,
welcomes, rejections); only a user's own instance speaks for the user (their sends and
member changes asked for at the home, their device list). Anything else is refused.
"""

import base64
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError

from apps.accounts.models import User
from apps.chats.models import TTL_MAX_SECONDS, Chat, Membership
from apps.core.api_fields import validated
from apps.core.errors import ServiceError
from apps.devices.models import Device
from apps.federation import relay
from apps.federation.remote import domain_of, mirror_device, remote_user
from apps.messages.delivery import add_inbox_rows
from apps.messages.models import DeviceInbox


class Refused(Exception):
    """The envelope is not acceptable; it is marked handled with this reason."""


class RetryLater(Exception):
    """The envelope cannot be handled now (a peer we must fetch from is unreachable): it
    and the origin's later envelopes stay pending, in order, for the inbox sweeper."""


def _chat(chat_id: Any, *, lock: bool = False) -> Chat | None:
    queryset = Chat.objects.select_for_update() if lock else Chat.objects
    return queryset.filter(pk=uuid.UUID(str(chat_id))).first()


def _homed_at(origin: str, chat_id: Any) -> Chat | None:
    """The local copy of a chat that `origin` orders (locked), None if we have none."""
    chat = _chat(chat_id, lock=True)
    if chat is not None and chat.home != origin:
        raise Refused("only the chat's home speaks for it")
    return chat


def _homed_here(chat_id: Any) -> Chat:
    chat = _chat(chat_id, lock=True)
    if chat is None or chat.home:
        raise Refused("this instance is not the chat's home")
    return chat


def _own_user(origin: str, address: Any) -> User:
    """A user of the origin's own domain, known here (a member of some chat)."""
    if not isinstance(address, str) or domain_of(address) != origin:
        raise Refused("an instance speaks only for its own users")
    user = User.objects.filter(username=address).first()
    if user is None:
        raise Refused("unknown user")
    return user


def _b64(value: Any) -> bytes | None:
    return None if value is None else base64.b64decode(str(value), validate=True)


# --- membership ---------------------------------------------------------------------


def membership(origin: str, body: dict[str, Any]) -> None:
    if body.get("op") == "request":
        _membership_request(origin, body)
    else:
        _membership_snapshot(origin, body)


def _ttl(value: Any) -> int | None:
    """A chat's self-destruct default as a peer sent it (None: off), in the API's range."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= TTL_MAX_SECONDS:
        raise Refused("ttl_seconds out of range")
    return value


def _membership_snapshot(origin: str, body: dict[str, Any]) -> None:
    """Make the local copy of the chat match the home's snapshot; tell local members."""
    from apps.chats.services import notify_members

    doc = body["chat"]
    members: list[dict[str, Any]] = body["members"]
    chat = _homed_at(origin, doc["id"])
    ours = settings.TALKEE_DOMAIN
    local = {m["user"]: m for m in members if domain_of(m["user"]) == ours}
    if chat is None:
        if not local:
            return
        chat = Chat.objects.create(id=uuid.UUID(str(doc["id"])), kind=doc["kind"], home=origin, federated=True)
    name_changed = doc.get("name_epoch", 0) >= chat.name_epoch and _b64(doc.get("encrypted_name")) != (
        None if chat.encrypted_name is None else bytes(chat.encrypted_name)
    )
    chat.epoch = max(chat.epoch, int(doc["epoch"]))
    chat.next_seq = max(chat.next_seq, int(doc["next_seq"]))
    chat.mls_group_id = _b64(doc.get("mls_group_id"))
    timer_changed = chat.ttl_seconds != doc.get("ttl_seconds")
    chat.ttl_seconds = _ttl(doc.get("ttl_seconds"))
    if name_changed:
        chat.encrypted_name = _b64(doc.get("encrypted_name"))
        chat.name_epoch = int(doc.get("name_epoch", 0))
    chat.save()

    users = {u.username: u for u in User.objects.filter(username__in=[m["user"] for m in members])}
    for m in members:
        if m["user"] not in users and domain_of(m["user"]) != ours:
            users[m["user"]] = remote_user(m["user"])
    wanted = {users[m["user"]].pk: m for m in members if m["user"] in users}
    if not wanted or not all(m["role"] in Membership.Role.values for m in wanted.values()):
        raise Refused("a snapshot needs members with known roles")
    current = {m.user_id: m for m in Membership.objects.select_for_update().filter(chat=chat)}
    added = [uid for uid in wanted if uid not in current]
    removed = [uid for uid in current if uid not in wanted]
    roles = {uid: wanted[uid]["role"] for uid in wanted if uid in current and current[uid].role != wanted[uid]["role"]}
    Membership.objects.bulk_create(
        [
            Membership(chat=chat, user_id=uid, role=wanted[uid]["role"], joined_seq=wanted[uid]["joined_seq"])
            for uid in added
        ]
    )
    Membership.objects.filter(chat=chat, user_id__in=removed).delete()
    for uid, role in roles.items():
        Membership.objects.filter(chat=chat, user_id=uid).update(role=role)
    if chat.kind == Chat.Kind.DIRECT and not chat.direct_pair and len(wanted) == 2:
        low, high = sorted(wanted)
        try:
            with transaction.atomic():
                Chat.objects.filter(pk=chat.pk).update(direct_pair=f"{low}:{high}")
        except IntegrityError:
            pass  # both sides started a direct chat at once: the other one keeps the pair

    names = {u.pk: u.username for u in users.values()}
    local_ids = {users[a].pk for a in local if a in users}
    removed_names = list(User.objects.filter(pk__in=removed).values_list("username", flat=True))
    for uid in added:
        if uid in local_ids:
            notify_members(chat, [uid], "joined", members=len(wanted), joined_seq=wanted[uid]["joined_seq"])
    notify_members(chat, removed, "left")
    staying = [uid for uid in wanted if uid not in added]
    if added or removed or roles:
        changes: dict[str, object] = {}
        if added:
            changes["added"] = [names[uid] for uid in added]
        if removed:
            changes["removed"] = removed_names
        if roles:
            changes["role"] = {names[uid]: role for uid, role in roles.items()}
        notify_members(chat, staying, "members", **changes)
    if name_changed:
        notify_members(chat, staying, "name")
    if timer_changed:
        notify_members(chat, staying, "timer", ttl_seconds=chat.ttl_seconds)


def _membership_request(origin: str, body: dict[str, Any]) -> None:
    """A member change asked for on another instance, applied here (the home) with the
    actor's own rights; the resulting snapshot goes out as for a local change."""
    from apps.chats import services

    chat = _homed_here(body["chat_id"])
    actor = _own_user(origin, body.get("actor"))
    action = body.get("action")
    try:
        if action == "add":
            services.do_add_members(actor, chat, [str(a) for a in body["users"]], str(body.get("role", "member")))
        elif action in ("remove", "role"):
            target = User.objects.filter(username=str(body["user"])).first()
            if target is None:
                raise Refused("no such member")
            if action == "remove":
                services.do_remove_member(actor, chat, target)
            else:
                services.do_change_role(actor, chat, target, str(body["role"]))
        elif action == "name":
            services.do_set_name(actor, chat, base64.b64decode(body["encrypted_name"]), int(body["epoch"]))
        elif action == "timer":
            services.do_set_timer(actor, chat, _ttl(body["ttl_seconds"]))
        else:
            raise Refused(f"unknown action {action!r}")
    except ServiceError as exc:
        raise Refused(f"{exc.code}: {exc.message}") from exc


# --- messages -----------------------------------------------------------------------


def message(origin: str, body: dict[str, Any]) -> None:
    op = body.get("op")
    if op == "send":
        _send_at_home(origin, body)
    elif op == "deliver":
        chat = _homed_at(origin, body["chat_id"])
        if chat is None:
            raise Refused("no member of this chat lives here")
        from apps.messages.services import do_store_delivered

        do_store_delivered(chat.id, body)
    elif op == "rejected":
        _rejected(origin, body)
    elif op == "change":
        _change_at_home(origin, body)
    elif op == "change_rejected":
        _rejected(origin, body)
    elif op in ("changed", "reaction"):
        chat = _homed_at(origin, body["chat_id"])
        if chat is None:
            raise Refused("no member of this chat lives here")
        from apps.messages.services import do_apply_changed, do_apply_reaction

        (do_apply_changed if op == "changed" else do_apply_reaction)(chat.id, body)
    else:
        raise Refused(f"unknown op {op!r}")


def _change_at_home(origin: str, body: dict[str, Any]) -> None:
    """An edit, deletion, burn or reaction change asked for on another instance: the same
    service as a local request, with the actor's own rights (membership, the edit or
    remove secret, an admin's role as the home knows it); the result goes out to every
    instance with a member as for a local change. The asking instance already checked
    what its copy allows; a refusal here goes back to it as `change_rejected` (the action
    and seq, or the reaction, and no actor)."""
    from apps.messages import services
    from apps.messages.api import serializers as s
    from apps.messages.models import Message

    chat = _homed_here(body["chat_id"])
    actor = _own_user(origin, body.get("actor"))
    action = body.get("action")
    try:
        if action == "unreact":
            data = validated(s.RemoveReactionSerializer, {"remove_secret": body.get("remove_secret")})
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
                s.EditSerializer, {"edit_secret": body.get("edit_secret"), "ciphertext": body.get("ciphertext")}
            )
            services.do_edit_message(actor.pk, message_id, data["edit_secret"], data["ciphertext"])
        elif action == "delete":
            data = validated(s.DeleteSerializer, {"edit_secret": body.get("edit_secret")})
            services.do_delete_message(actor.pk, message_id, data.get("edit_secret"))
        elif action == "burn":
            services.do_burn_message(actor.pk, message_id)
        elif action == "react":
            data = validated(
                s.ReactionSerializer, {"ciphertext": body.get("ciphertext"), "remove_hash": body.get("remove_hash")}
            )
            services.do_add_reaction(actor.pk, message_id, data["ciphertext"], data["remove_hash"])
        else:
            raise Refused(f"unknown action {action!r}")
    except ServiceError as exc:
        relay.reject_change(origin, str(chat.id), body, exc.code, exc.message)
    except ValidationError as exc:
        relay.reject_change(origin, str(chat.id), body, "invalid_input", str(exc.detail))


def _reaction_chat(reaction_id: int) -> uuid.UUID | None:
    from apps.messages.models import Reaction

    return Reaction.objects.filter(pk=reaction_id).values_list("chat_id", flat=True).first()


def _send_at_home(origin: str, body: dict[str, Any]) -> None:
    """A remote member's send: the same path as a local send (membership, epoch, seq,
    fan-out to every instance with a member, the sender's included). A refusal goes back
    to the origin naming only the client_message_id."""
    from apps.messages.services import do_send_message

    chat_id = uuid.UUID(str(body["chat_id"]))
    client_message_id = str(body["client_message_id"])
    chat = _chat(chat_id)
    if chat is None or chat.home:
        raise Refused("this instance is not the chat's home")
    sender = _own_user(origin, body.get("sender"))
    welcome = body.get("welcome")
    try:
        with transaction.atomic():
            blob_ids = _pull_files(origin, chat, sender, body.get("blobs"))
            translated = None
            if welcome is not None:
                device_ids = _device_ids(welcome["devices"])
                if len(device_ids) != len(welcome["devices"]):
                    raise ServiceError(
                        "A Welcome may only go to devices of the chat's members.", code="invalid_welcome"
                    )
                translated = {"device_ids": device_ids, "payload": _b64(welcome["payload"])}
            do_send_message(
                sender.pk,
                chat_id,
                client_message_id=client_message_id,
                kind=str(body["kind"]),
                epoch=int(body["epoch"]),
                ciphertext=base64.b64decode(body["ciphertext"], validate=True),
                edit_hash=_b64(body.get("edit_hash")),
                ttl_seconds=body.get("ttl_seconds"),
                burn_on_read=bool(body.get("burn_on_read")),
                welcome=translated,
                blob_ids=blob_ids,
            )
    except ServiceError as exc:
        relay.reject_send(origin, str(chat_id), client_message_id, exc.code, exc.message)


def _pull_files(origin: str, chat: Chat, sender: User, entries: Any) -> list[uuid.UUID]:
    """The files of a forwarded send, pulled from the sender's instance before the
    message is ordered (only a member may attach files; a repeat pulls nothing)."""
    from apps.blobs.services import do_pull_blobs
    from apps.federation.remote import PeerUnavailable

    if not entries:
        return []
    if not Membership.objects.filter(chat=chat, user=sender).exists():
        raise ServiceError("No such chat.", code="chat_not_found")
    try:
        return do_pull_blobs(origin, chat.id, entries, sender.pk)
    except PeerUnavailable as exc:
        raise RetryLater(str(exc)) from exc


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
    """The home refused a send (or a message change) forwarded from here. Every local member's devices hear of
    it; only the author's recognise the client_message_id (no sender is recorded)."""
    from apps.chats.services import notify_members

    chat = _homed_at(origin, body["chat_id"])
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
            from apps.messages.models import Reaction

            mirrored = Reaction.objects.filter(chat=chat, home_id=home_reaction).values("pk", "message__seq").first()
            if mirrored is not None:
                which = {"seq": mirrored["message__seq"], "reaction_id": mirrored["pk"]}
        notify_members(chat, local, "change_rejected", action=action, error=detail, **which)
    else:
        notify_members(
            chat, local, "send_rejected", client_message_id=str(body["client_message_id"])[:64], error=detail
        )


# --- welcomes and devices -----------------------------------------------------------


def mls_welcome(origin: str, body: dict[str, Any]) -> None:
    """A Welcome the home accepted with its commit, for devices that live here."""
    chat = _homed_at(origin, body["chat_id"])
    if chat is None:
        raise Refused("no member of this chat lives here")
    payload = base64.b64decode(body["payload"], validate=True)
    if not payload or len(payload) > settings.TALKEE_HANDSHAKE_MAX_BYTES:
        raise Refused("a Welcome must be 1 byte to TALKEE_HANDSHAKE_MAX_BYTES")
    local = [t for t in body["devices"] if domain_of(str(t["user"])) == settings.TALKEE_DOMAIN]
    ids = Device.objects.filter(pk__in=_device_ids(local), user__memberships__chat=chat).values_list("pk", flat=True)
    add_inbox_rows(DeviceInbox(device_id=pk, kind=DeviceInbox.Kind.WELCOME, chat=chat, payload=payload) for pk in ids)


def device_list(origin: str, body: dict[str, Any]) -> None:
    """A remote user's device added or revoked: update the mirror, tell local members
    sharing a chat with them (the same `device` event as for a local device)."""
    from apps.devices.services import notify_device_change

    user = _own_user(origin, body.get("user"))
    change = body.get("change")
    if change == "added":
        device, created = mirror_device(user, body)
        if created:
            notify_device_change(device, "added")
    elif change == "revoked":
        mirrored = Device.objects.filter(user=user, client_device_id=uuid.UUID(str(body["client_device_id"]))).first()
        if mirrored is not None:
            notify_device_change(mirrored, "revoked")
            mirrored.delete()
    else:
        raise Refused(f"unknown change {change!r}")


def call(origin: str, body: dict[str, Any]) -> None:
    """A call signal from a member on `origin` (opaque, sealed end to end): passed to this
    instance's members' sockets like a local one, never stored."""
    from apps.messages.delivery import chat_group, encode, publish_on_commit

    chat = _chat(body.get("chat_id"))
    if chat is None or not Membership.objects.filter(chat=chat, user__domain=origin).exists():
        raise Refused("no member of the origin in this chat")
    payload = body.get("payload")
    if not isinstance(payload, str) or not 0 < len(payload) <= settings.TALKEE_CALL_PAYLOAD_MAX_BYTES * 4 // 3 + 4:
        raise Refused("a call payload is base64 of at most TALKEE_CALL_PAYLOAD_MAX_BYTES")
    signal = {"type": "call", "chat_id": str(chat.id), "payload": payload}
    publish_on_commit([(chat_group(chat.id), {"type": "chat.signal", "text": encode(signal)})])


def ping(origin: str, body: dict[str, Any]) -> None:
    """Carries nothing; used to test the transport."""


HANDLERS: dict[str, Callable[[str, dict[str, Any]], None]] = {
    "ping": ping,
    "membership": membership,
    "message": message,
    "mls_welcome": mls_welcome,
    "device_list": device_list,
    "call": call,
}
