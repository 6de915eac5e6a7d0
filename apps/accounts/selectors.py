"""Reads for accounts."""

from django.conf import settings

from apps.accounts.models import Session, User
from apps.accounts.tokens import token_hash


def session_for_token(token: str) -> Session | None:
    """The live session behind a token, or None (unknown token, blocked user)."""
    # Tokens are URL-safe base64; anything else (a socket's JSON may carry any string,
    # even a lone surrogate that cannot be hashed) is simply not one.
    if not token or len(token) > 128 or not token.isascii():
        return None
    session = (
        Session.objects.select_related("user", "device")
        .filter(token_hash=token_hash(token), user__is_blocked=False)
        .first()
    )
    return session


def full_address(username: str) -> str:
    """`alice` → `alice@<our domain>`; `alice@host` stays as it is."""
    username = username.strip().lower()
    return username if "@" in username else f"{username}@{settings.TALKEE_DOMAIN}"


def local_user(username: str) -> User | None:
    return User.objects.filter(username=full_address(username), domain=settings.TALKEE_DOMAIN).first()
