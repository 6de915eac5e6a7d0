"""Remote users' devices, as this instance knows them, and the `device_list` envelope.

A remote user's devices are mirrored as `Device` rows (public keys only, no sessions), so
welcomes and device-list notices address them with this instance's device ids like local
ones. Only the user's own instance speaks for them: a signed lookup (`GET /s2s/v1/users?user=`),
a KeyPackage claim (`GET /s2s/mls/keybundle?user=`) or a `device_list` envelope from it.

Every request to a peer here runs with no transaction open; what it brings back is stored
in a short transaction afterwards."""

import binascii
import uuid
from typing import Any

from django.db import transaction

from apps.accounts.federation import own_user, remote_user
from apps.accounts.models import User
from apps.chats.selectors import peer_domains_of_user
from apps.core.b64 import b64, unb64
from apps.core.errors import NotFound, ServiceError
from apps.devices import services
from apps.devices.models import Device
from apps.federation.registry import Refused, register_handler
from apps.federation.remote import domain_of, is_remote, signed_get
from apps.federation.services import send

USERS_PATH = "/s2s/v1/users"
KEYBUNDLE_PATH = "/s2s/mls/keybundle"


def register() -> None:
    register_handler("device_list", device_list)


def _key(value: Any) -> bytes:
    try:
        key = unb64(value)
    except (binascii.Error, ValueError) as exc:
        raise ServiceError("A peer sent a malformed device key.", code="invalid_peer_answer", status=502) from exc
    if len(key) != 32:
        raise ServiceError("A peer sent a malformed device key.", code="invalid_peer_answer", status=502)
    return key


def mirror_device(user: User, entry: dict[str, Any]) -> tuple[Device, bool]:
    """The local mirror of one of a remote user's devices (created if new), with the same
    key checks as a local device's."""
    client_device_id = uuid.UUID(str(entry["client_device_id"]))
    existing = Device.objects.filter(user=user, client_device_id=client_device_id).first()
    if existing is not None:
        return existing, False
    ed25519_pub = services.check_ed25519_public_key(_key(entry.get("ed25519_pub")))
    x25519_pub = services.check_x25519_public_key(_key(entry.get("x25519_pub")))
    return Device.objects.get_or_create(
        user=user,
        client_device_id=client_device_id,
        defaults={"ed25519_pub": ed25519_pub, "x25519_pub": x25519_pub, "label": "remote"},
    )


def resolve_users(addresses: list[str]) -> list[User]:
    """Users for these addresses; remote ones unknown here are looked up at their instance
    (signed) and stored with their devices. Unknown local users → 404."""
    users = {u.username: u for u in User.objects.filter(username__in=addresses)}
    for address in addresses:
        if address in users or not is_remote(address):
            continue
        document = signed_get(domain_of(address), USERS_PATH, [("user", address)])
        if document.get("user") != address or not isinstance(document.get("devices"), list):
            raise ServiceError(
                f"{domain_of(address)} answered for someone else.", code="invalid_peer_answer", status=502
            )
        with transaction.atomic():
            user = remote_user(address)
            for entry in document["devices"]:
                mirror_device(user, entry)
        users[address] = user
    missing = sorted(set(addresses) - set(users))
    if missing:
        raise NotFound(f"No such user: {', '.join(missing)}.", code="user_not_found")
    return [users[a] for a in addresses]


def device_entry(device: Device) -> dict[str, Any]:
    """How a device is described to peers (public keys only)."""
    return {
        "client_device_id": str(device.client_device_id),
        "ed25519_pub": b64(device.ed25519_pub),
        "x25519_pub": b64(device.x25519_pub),
    }


def claim_remote(address: str, client_device_ids: list[str] | None = None) -> list[dict[str, object]]:
    """One KeyPackage per device of a remote user (only these devices when given), claimed
    at their instance; device ids are this instance's mirrors (created for devices seen for
    the first time)."""
    query = [("user", address), *(("device", c) for c in client_device_ids or [])]
    document = signed_get(domain_of(address), KEYBUNDLE_PATH, query)
    entries = document.get(address)
    if not isinstance(entries, list):
        raise ServiceError(f"{domain_of(address)} answered for someone else.", code="invalid_peer_answer", status=502)
    claimed: list[dict[str, object]] = []
    with transaction.atomic():
        user = remote_user(address)
        for entry in entries:
            device, _ = mirror_device(user, entry)
            package = entry.get("keypackage")
            claimed.append(
                {
                    "device_id": device.pk,
                    "client_device_id": str(device.client_device_id),
                    "keypackage": unb64(package) if isinstance(package, str) else None,
                }
            )
    return claimed


def announce_device(device: Device, change: str) -> None:
    """A local user's device added or revoked: to every instance sharing a chat with them."""
    body = {"user": device.user.username, "change": change, **device_entry(device)}
    for domain in sorted(peer_domains_of_user(device.user_id)):
        send("device_list", domain, body)


def device_list(origin: str, body: dict[str, Any]) -> None:
    """A remote user's device added or revoked: update the mirror, tell local members
    sharing a chat with them (the same `device` event as for a local device)."""
    user = own_user(origin, body.get("user"))
    change = body.get("change")
    if change == "added":
        device, created = mirror_device(user, body)
        if created:
            services.notify_device_change(device, "added")
    elif change == "revoked":
        mirrored = Device.objects.filter(user=user, client_device_id=uuid.UUID(str(body["client_device_id"]))).first()
        if mirrored is not None:
            services.notify_device_change(mirrored, "revoked")
            mirrored.delete()
    else:
        raise Refused(f"unknown change {change!r}")
