"""Cross-instance chats: the `membership` envelopes (outgoing builders and the incoming
handler), and the checks every chat-bound handler shares (who may speak for a chat or a user).

The chat's home (the creator's instance) orders it: it owns the member list and sends
`membership` (`op: snapshot`) — the chat and its full member list after every change — to
every instance that has (or just lost) a member. Snapshots are idempotent by nature. A
member change asked for on a non-home instance goes to the home as `op: request`.

Who may say what: only a chat's home speaks for the chat; only a user's own instance speaks
for the user. Anything else is refused. Outgoing envelopes are queued inside the caller's
transaction (they commit with the change they carry, or not at all)."""

import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from apps.accounts.federation import own_user, remote_user
from apps.accounts.models import User
from apps.accounts.selectors import blocks_between
from apps.chats import services
from apps.chats.models import TTL_MAX_SECONDS, Chat, Membership
from apps.chats.selectors import remote_domains
from apps.core.b64 import b64_or_none, unb64, unb64_or_none
from apps.core.errors import ServiceError
from apps.devices.federation import resolve_users
from apps.federation.registry import Refused, register_handler
from apps.federation.remote import domain_of
from apps.federation.services import send


def register() -> None:
    register_handler("membership", membership, prepare=_prepare_membership, needs_prepare=_adds_members)


# --- shared checks for incoming chat traffic ----------------------------------------


def chat_by_id(chat_id: Any, *, lock: bool = False) -> Chat | None:
    queryset = Chat.objects.select_for_update() if lock else Chat.objects
    return queryset.filter(pk=uuid.UUID(str(chat_id))).first()


def homed_at(origin: str, chat_id: Any) -> Chat | None:
    """The local copy of a chat that `origin` orders (locked), None if we have none."""
    chat = chat_by_id(chat_id, lock=True)
    if chat is not None and chat.home != origin:
        raise Refused("only the chat's home speaks for it")
    return chat


def homed_here(chat_id: Any) -> Chat:
    chat = chat_by_id(chat_id, lock=True)
    if chat is None or chat.home:
        raise Refused("this instance is not the chat's home")
    return chat


# --- outgoing -------------------------------------------------------------------------


def snapshot(chat: Chat) -> dict[str, Any]:
    members = Membership.objects.filter(chat=chat).select_related("user").order_by("pk")
    return {
        "op": "snapshot",
        "chat": {
            "id": str(chat.id),
            "kind": chat.kind,
            "epoch": chat.epoch,
            "next_seq": chat.next_seq,
            "mls_group_id": b64_or_none(chat.mls_group_id),
            "encrypted_name": b64_or_none(chat.encrypted_name),
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
        send("membership", domain, body)


def request_change(home: str, chat_id: uuid.UUID | str, actor: str, action: str, fields: dict[str, Any]) -> None:
    """A member change asked for on a non-home instance (`add`, `remove`, `role`, `name`)."""
    send("membership", home, {"op": "request", "chat_id": str(chat_id), "actor": actor, "action": action, **fields})


# --- incoming -------------------------------------------------------------------------


def _adds_members(body: dict[str, Any]) -> bool:
    return body.get("op") == "request" and body.get("action") == "add"


def _prepare_membership(origin: str, body: dict[str, Any]) -> ServiceError | None:
    """Before a member addition asked for on another instance is applied, with no
    transaction open: the added people, looked up at their instances the first time
    (signed requests) and stored. Returns the refusal the request is answered with."""
    if body.get("op") != "request" or body.get("action") != "add":
        return None
    chat = chat_by_id(body["chat_id"])
    if chat is None or chat.home:
        return None  # refused when applied
    actor = own_user(origin, body.get("actor"))
    try:
        services.check_manager(chat, actor)
        resolve_users([str(a) for a in body["users"]])
    except ServiceError as exc:
        return exc
    return None


def membership(origin: str, body: dict[str, Any], prepared: ServiceError | None = None) -> None:
    if body.get("op") == "request":
        _membership_request(origin, body, prepared)
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
    notify_members = services.notify_members
    doc = body["chat"]
    members: list[dict[str, Any]] = body["members"]
    chat = homed_at(origin, doc["id"])
    ours = settings.TALKEE_DOMAIN
    local = {m["user"]: m for m in members if domain_of(m["user"]) == ours}
    if chat is None:
        if not local:
            return
        if doc["kind"] == Chat.Kind.DIRECT and blocks_between(list(local), [m["user"] for m in members]):
            # Our user blocked the other person; their instance should have refused it already.
            raise Refused("not_accepted: a direct chat with someone our user blocked")
        chat = Chat.objects.create(id=uuid.UUID(str(doc["id"])), kind=doc["kind"], home=origin, federated=True)
    name_changed = doc.get("name_epoch", 0) >= chat.name_epoch and unb64_or_none(doc.get("encrypted_name")) != (
        None if chat.encrypted_name is None else bytes(chat.encrypted_name)
    )
    chat.epoch = max(chat.epoch, int(doc["epoch"]))
    chat.next_seq = max(chat.next_seq, int(doc["next_seq"]))
    chat.mls_group_id = unb64_or_none(doc.get("mls_group_id"))
    timer_changed = chat.ttl_seconds != doc.get("ttl_seconds")
    chat.ttl_seconds = _ttl(doc.get("ttl_seconds"))
    if name_changed:
        chat.encrypted_name = unb64_or_none(doc.get("encrypted_name"))
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
            services.alert_members(chat, [uid], "joined", members=len(wanted), joined_seq=wanted[uid]["joined_seq"])
    services.alert_members(chat, removed, "left")
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


def _membership_request(origin: str, body: dict[str, Any], prepared: ServiceError | None) -> None:
    """A member change asked for on another instance, applied here (the home) with the
    actor's own rights; the resulting snapshot goes out as for a local change."""
    chat = homed_here(body["chat_id"])
    actor = own_user(origin, body.get("actor"))
    action = body.get("action")
    try:
        if prepared is not None:
            raise prepared
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
            services.do_set_name(actor, chat, unb64(body["encrypted_name"]), int(body["epoch"]))
        elif action == "timer":
            services.do_set_timer(actor, chat, _ttl(body["ttl_seconds"]))
        else:
            raise Refused(f"unknown action {action!r}")
    except ServiceError as exc:
        raise Refused(f"{exc.code}: {exc.message}") from exc
