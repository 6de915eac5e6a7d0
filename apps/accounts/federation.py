"""Remote users as this instance knows them: a remote user (`bob@partner`) is a `User` row
with the peer's domain and no password. Only the user's own instance speaks for them (see
apps/devices/federation.py for the signed lookup that fills in their devices, and
`remote_profile` below for their sealed profiles).

Blocks cross instances: when a user here blocks a remote user, the blocked user's instance
is told (`block` envelope) so that it refuses, at once and with the API's 403
`not_accepted`, what that user does there against the blocker — a new direct chat, an
invitation to a group, a message in their direct chat — exactly as for two users of one
instance. The cost: that instance's operator learns of the block (it would see every refused
request anyway). An instance that ignores it still cannot put our user into a new direct
chat with the person they blocked: a snapshot that would is refused here (apps/chats)."""

import binascii
from typing import Any

from django.conf import settings
from django.core.cache import cache

from apps.accounts.models import Block, Profile, User
from apps.core.b64 import unb64
from apps.core.errors import NotFound, ServiceError
from apps.federation import services as federation
from apps.federation.registry import Refused, register_handler
from apps.federation.remote import PeerUnavailable, domain_of, signed_get

PROFILES_PATH = "/s2s/v1/profiles"


def register() -> None:
    register_handler("block", block)


def share_block(blocker: User, blocked: User, on: bool) -> None:
    """Tell a remote user's instance that `blocker` (ours) blocked them (or lifted it);
    queued in the caller's transaction. Nothing is sent for a user of this instance."""
    if blocked.domain == settings.TALKEE_DOMAIN:
        return
    op = "block" if on else "unblock"
    federation.send("block", blocked.domain, {"op": op, "blocker": blocker.username, "blocked": blocked.username})


def block(origin: str, body: dict[str, Any]) -> None:
    """A user of `origin` blocked one of ours, or lifted it: mirrored as a `Block` row that
    the local checks (direct chats, invitations, direct messages) already enforce."""
    op, blocker, blocked = body.get("op"), body.get("blocker"), body.get("blocked")
    if op not in ("block", "unblock"):
        raise Refused("op must be block or unblock")
    if not isinstance(blocker, str) or domain_of(blocker) != origin:
        raise Refused("an instance speaks only for its own users")
    if not isinstance(blocked, str) or domain_of(blocked) != settings.TALKEE_DOMAIN:
        raise Refused("the blocked user is not one of ours")
    target = User.objects.filter(username=blocked).first()
    if target is None:
        raise Refused("unknown user")
    if op == "block":
        Block.objects.get_or_create(blocker=remote_user(blocker), blocked=target)
    else:
        Block.objects.filter(blocker__username=blocker, blocked=target).delete()


def remote_user(address: str) -> User:
    """The row for a remote address (a placeholder without devices until resolved)."""
    user, created = User.objects.get_or_create(username=address, defaults={"domain": domain_of(address)})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def own_user(origin: str, address: Any) -> User:
    """A user of the origin's own domain, known here (a member of some chat): an instance
    speaks only for its own users."""
    if not isinstance(address, str) or domain_of(address) != origin:
        raise Refused("an instance speaks only for its own users")
    user = User.objects.filter(username=address).first()
    if user is None:
        raise Refused("unknown user")
    return user


def remote_profile(user: User) -> Profile:
    """A remote user's sealed profile, asked of their instance (a signed GET, no transaction
    open) at most once per TALKEE_REMOTE_PROFILE_REFRESH_SECONDS, mirrored here so that it
    is served while their instance is away. The mirror only moves forward (a higher
    version); clients check the version too and open it with the key the user shared.
    NotFound: no profile there (and none mirrored); PeerUnavailable: their instance cannot
    be reached and nothing is mirrored."""
    mirrored = Profile.objects.filter(account=user).first()
    fresh_key = f"profile-asked:{user.pk}"
    if mirrored is not None and cache.get(fresh_key) is not None:
        return mirrored
    try:
        document = signed_get(user.domain, PROFILES_PATH, [("user", user.username)])
    except NotFound:
        if mirrored is None:
            raise NotFound("This user has no profile yet.") from None
        return mirrored
    except PeerUnavailable:
        if mirrored is None:
            raise
        return mirrored
    version, ciphertext = _profile_document(user, document)
    cache.set(fresh_key, 1, timeout=settings.TALKEE_REMOTE_PROFILE_REFRESH_SECONDS)
    if mirrored is not None and mirrored.version >= version:
        return mirrored
    Profile.objects.filter(account=user, version__lt=version).update(version=version, ciphertext=ciphertext)
    Profile.objects.get_or_create(account=user, defaults={"version": version, "ciphertext": ciphertext})
    return Profile.objects.get(account=user)


def _profile_document(user: User, document: dict[str, Any]) -> tuple[int, bytes]:
    version, ciphertext = document.get("version"), document.get("ciphertext")
    bad = ServiceError(f"{user.domain} sent a malformed profile.", code="invalid_peer_answer", status=502)
    if document.get("user") != user.username or not isinstance(version, int) or isinstance(version, bool):
        raise bad
    try:
        sealed = unb64(ciphertext)
    except (binascii.Error, ValueError, TypeError):
        raise bad from None
    if not 0 <= version < 2**63 or not 0 < len(sealed) <= settings.TALKEE_PROFILE_MAX_BYTES:
        raise bad
    return version, sealed
