"""Reads for accounts."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import QuerySet

from apps.accounts.models import Block, Profile, Session, User
from apps.accounts.tokens import token_hash


def _live_sessions(token: str) -> QuerySet[Session] | None:
    """The live session behind a token as a query (unknown token, blocked user: no row),
    or None for what cannot be a token at all."""
    # Tokens are URL-safe base64; anything else (a socket's JSON may carry any string,
    # even a lone surrogate that cannot be hashed) is simply not one.
    if not token or len(token) > 128 or not token.isascii():
        return None
    return Session.objects.filter(token_hash=token_hash(token), user__is_blocked=False)


def session_for_token(token: str) -> Session | None:
    """The live session behind a token, or None (unknown token, blocked user)."""
    sessions = _live_sessions(token)
    return None if sessions is None else sessions.select_related("user", "device").first()


@dataclass(frozen=True)
class SocketSession:
    device_id: int
    user_id: int
    username: str
    device_last_seen: datetime


def socket_session_for_token(token: str) -> SocketSession | None:
    """`session_for_token` for the device socket's connect: the four values it needs, no
    model instances (building the query with two joined models was half its CPU)."""
    sessions = _live_sessions(token)
    if sessions is None:
        return None
    rows = sessions.values_list("device_id", "user_id", "user__username", "device__last_seen")[:1]
    return next((SocketSession(*row) for row in rows), None)


def full_address(username: str) -> str:
    """`alice` → `alice@<our domain>`; `alice@host` stays as it is."""
    username = username.strip().lower()
    return username if "@" in username else f"{username}@{settings.TALKEE_DOMAIN}"


def local_user(username: str) -> User | None:
    return User.objects.filter(username=full_address(username), domain=settings.TALKEE_DOMAIN).first()


def active_user(address: str) -> User | None:
    """A user by full address, unless blocked."""
    return User.objects.filter(username=address, is_blocked=False).first()


def user_by_address(address: str) -> User | None:
    return User.objects.filter(username=address).first()


def profile_of(address: str) -> Profile | None:
    """A local user's encrypted profile (None: no such user here, or no profile yet)."""
    return (
        Profile.objects.filter(account__username=full_address(address), account__domain=settings.TALKEE_DOMAIN)
        .select_related("account")
        .first()
    )


def blocked_users_of(user_id: int) -> QuerySet[Block]:
    """The people this user blocked (only this user may read it), oldest first."""
    return Block.objects.filter(blocker_id=user_id).select_related("blocked").order_by("created", "pk")


def blockers_among(user_id: int, others: list[int]) -> list[int]:
    """Which of `others` blocked this user."""
    return list(Block.objects.filter(blocked_id=user_id, blocker_id__in=others).values_list("blocker_id", flat=True))


def blocks_between(blockers: list[str], others: list[str]) -> bool:
    """Someone among `blockers` (addresses) blocked someone among `others` (addresses)."""
    return Block.objects.filter(blocker__username__in=blockers, blocked__username__in=others).exists()


def blocked_in_chat(chat_id: "uuid.UUID | str", user_id: int) -> bool:
    """Someone in this chat blocked this user (asked for direct chats: the other person)."""
    return Block.objects.filter(blocked_id=user_id, blocker__memberships__chat_id=chat_id).exists()
