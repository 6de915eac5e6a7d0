"""Remote users' devices, as this instance knows them, and the `device_list` envelope.

A remote user's devices are mirrored as `Device` rows (public keys only, no sessions), so
welcomes and device-list notices address them with this instance's device ids like local
ones. Only the user's own instance speaks for them: a signed lookup (`GET /s2s/v1/users?user=`),
a KeyPackage claim (`GET /s2s/mls/keybundle?user=`) or a `device_list` envelope from it.
Each carries the user's identity key and every device's certificate (made by the user's
clients): mirrored here after the same checks as a local certificate, and handed to local
clients, which refuse a device the identity key did not certify — the same rule for a remote
user as for a local one.

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
from apps.devices.certificates import identity_keys_of, mirror_certificates
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


def _optional_bytes(value: Any, what: str) -> bytes | None:
    if value is None:
        return None
    try:
        return unb64(value)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ServiceError(f"A peer sent a malformed {what}.", code="invalid_peer_answer", status=502) from exc


def mirror_device(user: User, entry: dict[str, Any], identity_key: Any = None) -> tuple[Device, bool]:
    """The local mirror of one of a remote user's devices (created if new), with the same
    key checks as a local device's, and its certificate under `identity_key` (base64) as the
    user's instance sent them."""
    client_device_id = uuid.UUID(str(entry["client_device_id"]))
    device = Device.objects.filter(user=user, client_device_id=client_device_id).first()
    created = False
    if device is None:
        ed25519_pub = services.check_ed25519_public_key(_key(entry.get("ed25519_pub")))
        x25519_pub = services.check_x25519_public_key(_key(entry.get("x25519_pub")))
        device, created = Device.objects.get_or_create(
            user=user,
            client_device_id=client_device_id,
            defaults={"ed25519_pub": ed25519_pub, "x25519_pub": x25519_pub, "label": "remote"},
        )
    mirror_certificates(
        device, _optional_bytes(identity_key, "identity key"), _optional_bytes(entry.get("certificate"), "certificate")
    )
    return device, created


def _mirror_document(address: str, document: dict[str, Any]) -> User:
    """The user lookup's answer (`{user, identity_key, devices}`) stored as this instance's mirror."""
    if document.get("user") != address or not isinstance(document.get("devices"), list):
        raise ServiceError(f"{domain_of(address)} answered for someone else.", code="invalid_peer_answer", status=502)
    with transaction.atomic():
        user = remote_user(address)
        for entry in document["devices"]:
            mirror_device(user, entry, document.get("identity_key"))
    return user


def refresh_remote_user(address: str) -> User:
    """A remote user's devices, identity key and certificates asked of their instance now
    (no transaction open during the call) and mirrored."""
    return _mirror_document(address, signed_get(domain_of(address), USERS_PATH, [("user", address)]))


def resolve_users(addresses: list[str]) -> list[User]:
    """Users for these addresses; remote ones unknown here are looked up at their instance
    (signed) and stored with their devices. Unknown local users → 404."""
    users = {u.username: u for u in User.objects.filter(username__in=addresses)}
    for address in addresses:
        if address in users or not is_remote(address):
            continue
        document = signed_get(domain_of(address), USERS_PATH, [("user", address)])
        users[address] = _mirror_document(address, document)
    missing = sorted(set(addresses) - set(users))
    if missing:
        raise NotFound(f"No such user: {', '.join(missing)}.", code="user_not_found")
    return [users[a] for a in addresses]


def device_entry(device: Device) -> dict[str, Any]:
    """How a device is described to peers: public keys and the certificate its user's identity key made."""
    return {
        "client_device_id": str(device.client_device_id),
        "ed25519_pub": b64(device.ed25519_pub),
        "x25519_pub": b64(device.x25519_pub),
        "certificate": b64(device.certificate) if device.certificate is not None else None,
    }


def identity_key_entry(user_id: int) -> str | None:
    """The user's identity public key as peers receive it (base64; null before their first certificate)."""
    key = identity_keys_of([user_id]).get(user_id)
    return b64(key) if key is not None else None


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
            device, _ = mirror_device(user, entry, entry.get("identity_key"))
            package = entry.get("keypackage")
            claimed.append(
                {
                    "device_id": device.pk,
                    "client_device_id": str(device.client_device_id),
                    "keypackage": unb64(package) if isinstance(package, str) else None,
                    # What the claimer's client checks before it adds this device (as for a local one).
                    "identity_key": _optional_bytes(entry.get("identity_key"), "identity key"),
                    "certificate": bytes(device.certificate) if device.certificate is not None else None,
                }
            )
    return claimed


def announce_device(device: Device, change: str) -> None:
    """A local user's device added, certified or revoked: to every instance sharing a chat with them."""
    body = {
        "user": device.user.username,
        "change": change,
        "identity_key": identity_key_entry(device.user_id),
        **device_entry(device),
    }
    for domain in sorted(peer_domains_of_user(device.user_id)):
        send("device_list", domain, body)


def device_list(origin: str, body: dict[str, Any]) -> None:
    """A remote user's device added or revoked: update the mirror, tell local members
    sharing a chat with them (the same `device` event as for a local device)."""
    user = own_user(origin, body.get("user"))
    change = body.get("change")
    if change == "added":
        device, created = mirror_device(user, body, body.get("identity_key"))
        if created:
            services.notify_device_change(device, "added")
    elif change == "certified":
        # A device certified after it was announced (approved by another of the user's devices):
        # local members' clients may add it now.
        was_certified = Device.objects.filter(
            user=user, client_device_id=uuid.UUID(str(body["client_device_id"])), certificate__isnull=False
        ).exists()
        device, created = mirror_device(user, body, body.get("identity_key"))
        if created or (device.certificate is not None and not was_certified):
            services.notify_device_change(device, "added" if created else "certified")
    elif change == "revoked":
        mirrored = Device.objects.filter(user=user, client_device_id=uuid.UUID(str(body["client_device_id"]))).first()
        if mirrored is not None:
            services.notify_device_change(mirrored, "revoked")
            mirrored.delete()
    else:
        raise Refused(f"unknown change {change!r}")
