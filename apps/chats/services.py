"""Chat actions: create, members and roles, sealed name, self-destruct timer, favourites.

Roles are the one thing about a chat the server must understand (it enforces them);
everything else about the chat's content is ciphertext.
"""

import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction

from apps.accounts.selectors import blockers_among
from apps.chats import federation
from apps.chats.models import Chat, Membership
from apps.chats.selectors import membership_of
from apps.core.b64 import b64
from apps.core.errors import Conflict, Forbidden, NotFound, ServiceError
from apps.devices.federation import resolve_users
from apps.devices.models import Device
from apps.messages.delivery import add_inbox_rows
from apps.messages.models import DeviceInbox

if TYPE_CHECKING:
    from apps.accounts.models import User

Role = Membership.Role


def _users_by_address(addresses: list[str]) -> list["User"]:
    """Local users, and remote ones (looked up at their instance the first time)."""
    return resolve_users(addresses)


def notify_members(chat: Chat, user_ids: list[int], change: str, **data: object) -> None:
    """A `chat` device event to every local device of these users (inside the transaction)."""
    _chat_events(chat, user_ids, {"change": change, "chat_id": str(chat.id), **data}, alert=False)


def alert_members(chat: Chat, user_ids: list[int], change: str, **data: object) -> None:
    """Like notify_members, for a change that concerns these users and that someone else
    made (they were added to the chat or removed from it): also announced after commit, so
    a device whose app is closed gets a push."""
    _chat_events(chat, user_ids, {"change": change, "chat_id": str(chat.id), **data}, alert=True)


def _chat_events(chat: Chat, user_ids: list[int], payload: dict[str, object], *, alert: bool) -> None:
    devices = Device.objects.filter(user_id__in=user_ids, user__domain=settings.TALKEE_DOMAIN).values_list(
        "pk", flat=True
    )
    add_inbox_rows(
        (
            DeviceInbox(device_id=device_id, kind=DeviceInbox.Kind.CHAT, chat=chat, data=payload)
            for device_id in devices
        ),
        alert=alert,
    )


def _forwarded(chat: Chat, actor: "User", action: str, **fields: object) -> bool:
    """In a chat homed elsewhere, a member change is a request to the home (which checks
    the actor's role again and answers with the new member list). True if forwarded."""
    if not chat.home:
        return False
    with transaction.atomic():
        federation.request_change(chat.home, chat.id, actor.username, action, fields)
    return True


def check_manager(chat: Chat, actor: "User") -> Membership:
    membership = membership_of(chat.id, actor.pk)
    if membership is None:
        raise NotFound("No such chat.", code="chat_not_found")
    if not membership.is_manager:
        raise Forbidden("Only the chat's owners and admins can do this.", code="not_chat_admin")
    return membership


def _refuse_blocked_invitations(actor: "User", users: list["User"]) -> None:
    """403 `not_accepted` (nobody is added) if any of `users` blocked the inviting `actor`."""
    blockers = set(blockers_among(actor.pk, [u.pk for u in users]))
    if blockers:
        names = ", ".join(u.username for u in users if u.pk in blockers)
        raise Forbidden(f"{names} does not accept invitations from you.", code="not_accepted")


def do_create_chat(
    creator: "User",
    kind: str,
    member_addresses: list[str],
    *,
    chat_id: uuid.UUID | None = None,
    encrypted_name: bytes | None = None,
    mls_group_id: bytes | None = None,
    ttl_seconds: int | None = None,
) -> tuple[Chat, bool]:
    """Create a chat with the creator as owner. Returns (chat, created): a direct chat
    for a pair that already has one is returned as it is."""
    others = [u for u in _users_by_address(list(dict.fromkeys(member_addresses))) if u.pk != creator.pk]
    pair = None
    if kind == Chat.Kind.DIRECT:
        if len(others) != 1:
            raise ServiceError("A direct chat has exactly two people.", code="invalid_members")
        if encrypted_name is not None:
            raise ServiceError("Direct chats have no name.", code="invalid_request")
        if blockers_among(creator.pk, [others[0].pk]):
            raise Forbidden("This person does not accept messages from you.", code="not_accepted")
        low, high = sorted((creator.pk, others[0].pk))
        pair = f"{low}:{high}"
        existing = Chat.objects.filter(direct_pair=pair).first()
        if existing is not None:
            return existing, False
    else:
        _refuse_blocked_invitations(creator, others)
    try:
        with transaction.atomic():
            chat = Chat.objects.create(
                id=chat_id or uuid.uuid4(),
                kind=kind,
                encrypted_name=encrypted_name,
                mls_group_id=mls_group_id,
                ttl_seconds=ttl_seconds,
                direct_pair=pair,
            )
            Membership.objects.bulk_create(
                [Membership(chat=chat, user=creator, role=Role.OWNER)]
                + [Membership(chat=chat, user=user, role=Role.MEMBER) for user in others]
            )
            members = len(others) + 1
            notify_members(chat, [creator.pk], "joined", members=members, joined_seq=0)
            alert_members(chat, [u.pk for u in others], "joined", members=members, joined_seq=0)
            if any(u.domain != settings.TALKEE_DOMAIN for u in others):
                federation.share_chat(chat.id)
    except IntegrityError as exc:
        if pair is not None:
            # A concurrent request created the same direct chat first.
            return Chat.objects.get(direct_pair=pair), False
        raise Conflict("A chat with this id exists already.", code="chat_exists") from exc
    return chat, True


def do_add_members(actor: "User", chat: Chat, addresses: list[str], role: str = Role.MEMBER) -> list[Membership]:
    check_manager(chat, actor)
    if chat.kind == Chat.Kind.DIRECT:
        raise ServiceError("Direct chats cannot have more members; create a group.", code="direct_chat")
    if role == Role.OWNER:
        raise ServiceError(
            "Add people as members or admins; hand over ownership with a role change.", code="invalid_role"
        )
    users = _users_by_address(list(dict.fromkeys(addresses)))
    _refuse_blocked_invitations(actor, users)
    if _forwarded(chat, actor, "add", users=[u.username for u in users], role=role):
        return []
    with transaction.atomic():
        locked = Chat.objects.select_for_update().get(pk=chat.pk)
        present = set(Membership.objects.filter(chat=chat, user__in=users).values_list("user_id", flat=True))
        new = [
            Membership(chat=chat, user=u, role=role, joined_seq=locked.next_seq - 1)
            for u in users
            if u.pk not in present
        ]
        Membership.objects.bulk_create(new)
        if new:
            added = [m.user_id for m in new]
            others = list(
                Membership.objects.filter(chat=chat).exclude(user_id__in=added).values_list("user_id", flat=True)
            )
            alert_members(chat, added, "joined", members=len(added) + len(others), joined_seq=locked.next_seq - 1)
            notify_members(chat, others, "members", added=[m.user.username for m in new])
            if chat.federated or any(m.user.domain != settings.TALKEE_DOMAIN for m in new):
                federation.share_chat(chat.id)
    return new


def do_remove_member(actor: "User", chat: Chat, target: "User") -> None:
    """Managers remove members; anyone may leave. The owner cannot be removed by an
    admin, and the last owner cannot leave without handing over ownership."""
    actor_membership = membership_of(chat.id, actor.pk)
    if actor_membership is None:
        raise NotFound("No such chat.", code="chat_not_found")
    if _forwarded(chat, actor, "remove", user=target.username):
        return
    with transaction.atomic():
        memberships = {m.user_id: m for m in Membership.objects.select_for_update().filter(chat=chat)}
        victim = memberships.get(target.pk)
        if victim is None:
            raise NotFound(f"{target.username} is not in this chat.", code="member_not_found")
        leaving = target.pk == actor.pk
        if not leaving:
            if not actor_membership.is_manager:
                raise Forbidden("Only the chat's owners and admins can remove people.", code="not_chat_admin")
            if victim.role == Role.OWNER and actor_membership.role != Role.OWNER:
                raise Forbidden("An admin cannot remove the owner.", code="cannot_remove_owner")
        owners = [m for m in memberships.values() if m.role == Role.OWNER]
        if victim.role == Role.OWNER and len(owners) == 1:
            raise Conflict("Hand over ownership before the last owner leaves.", code="last_owner")
        if chat.kind == Chat.Kind.DIRECT and not leaving:
            raise ServiceError("Nobody can be removed from a direct chat.", code="direct_chat")
        victim.delete()
        (notify_members if leaving else alert_members)(chat, [target.pk], "left")
        notify_members(chat, [uid for uid in memberships if uid != target.pk], "members", removed=[target.username])
        if chat.federated:
            federation.share_chat(chat.id, also=[target.domain] if target.domain != settings.TALKEE_DOMAIN else [])


def do_change_role(actor: "User", chat: Chat, target: "User", role: str) -> Membership:
    actor_membership = check_manager(chat, actor)
    if _forwarded(chat, actor, "role", user=target.username, role=role):
        return actor_membership
    with transaction.atomic():
        memberships = {m.user_id: m for m in Membership.objects.select_for_update().filter(chat=chat)}
        victim = memberships.get(target.pk)
        if victim is None:
            raise NotFound(f"{target.username} is not in this chat.", code="member_not_found")
        if actor_membership.role != Role.OWNER and (victim.role == Role.OWNER or role == Role.OWNER):
            raise Forbidden(
                "Only an owner can change an owner's role or make someone owner.", code="cannot_change_owner"
            )
        owners = [m for m in memberships.values() if m.role == Role.OWNER]
        if victim.role == Role.OWNER and role != Role.OWNER and len(owners) == 1:
            raise Conflict("The chat needs an owner; make someone else owner first.", code="last_owner")
        victim.role = role
        victim.save(update_fields=["role"])
        notify_members(chat, list(memberships), "members", role={target.username: role})
        if chat.federated:
            federation.share_chat(chat.id)
    return victim


def do_set_name(actor: "User", chat: Chat, encrypted_name: bytes, epoch: int) -> Chat:
    check_manager(chat, actor)
    if chat.kind == Chat.Kind.DIRECT:
        raise ServiceError("Direct chats have no name.", code="direct_chat")
    if _forwarded(chat, actor, "name", encrypted_name=b64(encrypted_name), epoch=epoch):
        return chat
    with transaction.atomic():
        Chat.objects.filter(pk=chat.pk).update(encrypted_name=encrypted_name, name_epoch=epoch)
        chat.refresh_from_db()
        members = list(Membership.objects.filter(chat=chat).values_list("user_id", flat=True))
        notify_members(chat, members, "name")
        if chat.federated:
            federation.share_chat(chat.id)
    return chat


def do_set_timer(actor: "User", chat: Chat, ttl_seconds: int | None) -> Chat:
    """The chat's self-destruct default for messages sent from now on (None: off).
    Either person in a direct chat may set it; in groups and channels owners and admins."""
    if chat.kind == Chat.Kind.DIRECT:
        if membership_of(chat.id, actor.pk) is None:
            raise NotFound("No such chat.", code="chat_not_found")
    else:
        check_manager(chat, actor)
    if _forwarded(chat, actor, "timer", ttl_seconds=ttl_seconds):
        return chat
    with transaction.atomic():
        Chat.objects.filter(pk=chat.pk).update(ttl_seconds=ttl_seconds)
        chat.ttl_seconds = ttl_seconds
        members = list(Membership.objects.filter(chat=chat).values_list("user_id", flat=True))
        notify_members(chat, members, "timer", ttl_seconds=ttl_seconds)
        if chat.federated:
            federation.share_chat(chat.id)
    return chat


def do_set_favourite(user: "User", chat: Chat, favourite: bool) -> None:
    updated = Membership.objects.filter(chat=chat, user=user).update(is_favourite=favourite)
    if not updated:
        raise NotFound("No such chat.", code="chat_not_found")


def do_leave_all_chats(user: "User") -> None:
    """The account is being deleted (a step of accounts' `do_delete_account`, inside its
    transaction): the user leaves every chat as a member leaves. The others hear "members
    removed", and their owners' and admins' clients take the user's leaves out of the MLS
    group with one commit, as after a leave. A last owner's place goes to the longest-standing
    admin, else member (so someone is left who may commit the removal); a chat nobody is left
    in goes with its messages and files. A chat homed elsewhere is asked to remove the user."""
    for chat in Chat.objects.filter(memberships__user=user).order_by("pk"):
        if chat.home:
            federation.request_change(chat.home, chat.id, user.username, "remove", {"user": user.username})
            continue
        memberships = {m.user_id: m for m in Membership.objects.select_for_update().filter(chat=chat)}
        leaver = memberships.pop(user.pk)
        leaver.delete()
        if not memberships:
            chat.delete()
            continue
        change: dict[str, object] = {"removed": [user.username]}
        if leaver.role == Role.OWNER and not any(m.role == Role.OWNER for m in memberships.values()):
            heir = min(memberships.values(), key=lambda m: (m.role != Role.ADMIN, m.joined, m.pk))
            heir.role = Role.OWNER
            heir.save(update_fields=["role"])
            change["role"] = {heir.user.username: Role.OWNER}
        notify_members(chat, list(memberships), "members", **change)
        if chat.federated:
            federation.share_chat(chat.id, also=[])
