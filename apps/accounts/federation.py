"""Remote users as this instance knows them: a remote user (`bob@partner`) is a `User` row
with the peer's domain and no password. Only the user's own instance speaks for them (see
apps/devices/federation.py for the signed lookup that fills in their devices)."""

from typing import Any

from apps.accounts.models import User
from apps.federation.registry import Refused
from apps.federation.remote import domain_of


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
