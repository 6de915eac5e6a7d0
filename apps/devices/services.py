"""Device actions: register on login, revoke (cascade + socket kick), KeyPackage pool."""

import logging
import uuid
from datetime import datetime

from django.conf import settings
from django.db import models, transaction
from nacl.bindings import crypto_core_ed25519_is_valid_point
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from apps.accounts.models import User
from apps.chats.models import Membership
from apps.core.errors import Conflict, Forbidden, NotFound, ServiceError
from apps.devices import federation, keylog
from apps.devices.models import Device, IdentityKey, KeyLogEntry, KeyPackage, RevokedDevice, current_hour
from apps.devices.realtime import kick_devices
from apps.federation.remote import is_remote
from apps.messages.delivery import add_inbox_rows
from apps.messages.models import DeviceInbox

logger = logging.getLogger("talkee.devices")

# mls10 MLSMessage, wire format mls_key_package, KeyPackage version mls10, suite 0xF00C.
KEYPACKAGE_PREFIX = bytes.fromhex("000100050001f00c")


def check_ed25519_public_key(key: bytes) -> bytes:
    if len(key) != 32 or not crypto_core_ed25519_is_valid_point(key):
        raise ServiceError("ed25519_pub is not a valid Ed25519 public key.", code="invalid_key")
    return key


def check_x25519_public_key(key: bytes) -> bytes:
    if len(key) != 32 or key == bytes(32):
        raise ServiceError("x25519_pub is not a valid X25519 public key.", code="invalid_key")
    return key


def check_device_signature(ed25519_pub: bytes, message: bytes, signature: bytes) -> None:
    check_ed25519_public_key(ed25519_pub)
    try:
        VerifyKey(ed25519_pub).verify(message, signature)
    except (BadSignatureError, ValueError) as exc:
        raise ServiceError(
            "The device signature over the challenge is not valid.", code="invalid_signature", status=401
        ) from exc


def notify_device_change(device: Device, change: str) -> None:
    """Tell the user's other devices and the devices of everyone sharing a chat with them
    that a device was added, certified (approved: its clients may add it now) or revoked, so
    their clients add it to (or remove it from) every MLS group with a commit. Inside the
    caller's transaction."""
    peers = Membership.objects.filter(chat__memberships__user_id=device.user_id).values("user_id")
    targets = Device.objects.filter(models.Q(user_id=device.user_id) | models.Q(user_id__in=peers)).filter(
        user__domain=settings.TALKEE_DOMAIN
    )
    if change != "certified":
        # A device hears of its own approval (it takes the identity key sealed to it), not of itself otherwise.
        targets = targets.exclude(pk=device.pk)
    target_ids = targets.values_list("pk", flat=True).distinct()
    data = {
        "change": change,
        "user": device.user.username,
        "device_id": device.pk,
        "client_device_id": str(device.client_device_id),
    }
    add_inbox_rows(DeviceInbox(device_id=target, kind=DeviceInbox.Kind.DEVICE, data=data) for target in target_ids)
    if device.user.domain == settings.TALKEE_DOMAIN:
        # Peers sharing a chat with the user tell their own members (a remote user's
        # change came from their instance and is not passed on).
        federation.announce_device(device, change)


class SignedOut(ServiceError):
    status = 401
    code = "signed_out"


def do_register_device(
    user: User, *, client_device_id: str, ed25519_pub: bytes, x25519_pub: bytes, label: str, interactive: bool = True
) -> Device:
    """Create the device on first login; later logins must present the same keys. A device
    signed out from another one comes back only with an `interactive` login."""
    check_ed25519_public_key(ed25519_pub)
    check_x25519_public_key(x25519_pub)
    device_uuid = uuid.UUID(str(client_device_id))
    if (
        RevokedDevice.objects.filter(ed25519_pub=ed25519_pub).exists()
        or RevokedDevice.objects.filter(user=user, client_device_id=device_uuid).exists()
    ):
        raise Forbidden("This device was revoked; set it up again as a new device.", code="device_revoked")
    device = Device.objects.select_for_update().filter(user=user, client_device_id=device_uuid).first()
    if device is None:
        if Device.objects.filter(ed25519_pub=ed25519_pub).exists():
            raise Conflict("This device key is already registered.", code="device_key_in_use")
        device = Device.objects.create(
            user=user, client_device_id=device_uuid, ed25519_pub=ed25519_pub, x25519_pub=x25519_pub, label=label
        )
        notify_device_change(device, "added")
        return device
    if bytes(device.ed25519_pub) != ed25519_pub or bytes(device.x25519_pub) != x25519_pub:
        raise Conflict("This device id is registered with other keys.", code="device_key_mismatch")
    if device.signed_out and not interactive:
        raise SignedOut("This device was signed out from another of your devices; type your password to sign in again.")
    device.label = label or device.label
    device.last_seen = current_hour()
    device.signed_out = False
    device.save(update_fields=["label", "last_seen", "signed_out"])
    return device


def do_touch_device(device_id: int, last_seen: datetime) -> datetime:
    """The device is in use (a socket or a request with its token): at most one write an
    hour. Takes the `last_seen` already read; returns the new value."""
    hour = current_hour()
    if last_seen < hour:
        Device.objects.filter(pk=device_id, last_seen__lt=hour).update(last_seen=hour)
        return hour
    return last_seen


def do_revoke_device(device: Device) -> None:
    """Revoke: sessions, KeyPackages and everything else hanging off the device go in one
    transaction (ON DELETE CASCADE); the key is tombstoned; open sockets get close 4001."""
    device_id = device.pk
    with transaction.atomic():
        RevokedDevice.objects.create(
            user_id=device.user_id, client_device_id=device.client_device_id, ed25519_pub=bytes(device.ed25519_pub)
        )
        if device.certificate is not None and device.user.domain == settings.TALKEE_DOMAIN:
            keylog.append(device.user, KeyLogEntry.Kind.REVOKED, str(device.client_device_id).encode())
        notify_device_change(device, "revoked")
        device.delete()
        transaction.on_commit(lambda: kick_devices([device_id]))
    logger.info("device revoked", extra={"device_id": device_id})


def check_keypackage(data: bytes) -> bytes:
    if not data.startswith(KEYPACKAGE_PREFIX) or len(data) <= len(KEYPACKAGE_PREFIX):
        raise ServiceError("Not an MLS KeyPackage for ciphersuite 0xF00C.", code="invalid_keypackage")
    if len(data) > settings.TALKEE_KEYPACKAGE_MAX_BYTES:
        raise ServiceError("KeyPackage too large.", code="keypackage_too_large", status=413)
    return data


def do_store_keypackages(device: Device, keypackages: list[bytes]) -> int:
    """Add a batch to the device's pool, never beyond the per-device cap."""
    for data in keypackages:
        check_keypackage(data)
    with transaction.atomic():
        # Lock the device row so concurrent uploads cannot both pass the cap check.
        Device.objects.select_for_update().filter(pk=device.pk).first()
        held = KeyPackage.objects.filter(device=device).count()
        if held + len(keypackages) > settings.TALKEE_KEYPACKAGE_POOL_MAX:
            raise Conflict(
                f"This device already holds {held} KeyPackages; the pool takes at most "
                f"{settings.TALKEE_KEYPACKAGE_POOL_MAX}.",
                code="keypackage_pool_full",
            )
        KeyPackage.objects.bulk_create([KeyPackage(device=device, data=data) for data in keypackages])
    return len(keypackages)


def claim_keypackages(addresses: list[str], device_ids: list[int] | None = None) -> dict[str, list[dict[str, object]]]:
    """One KeyPackage per device of each user (only `device_ids` of them when given), each
    handed out exactly once.

    Rows are taken with SELECT … FOR UPDATE SKIP LOCKED and deleted in the same
    transaction, so concurrent claimers never receive the same KeyPackage. A device
    whose pool is empty is listed with `keypackage: None`.
    """

    result: dict[str, list[dict[str, object]]] = {}
    for address in filter(is_remote, addresses):
        if device_ids is None:
            result[address] = federation.claim_remote(address)
            continue
        mirrors = Device.objects.filter(pk__in=device_ids, user__username=address).values_list(
            "client_device_id", flat=True
        )
        result[address] = federation.claim_remote(address, [str(c) for c in mirrors]) if mirrors else []
    addresses = [a for a in addresses if a not in result]
    users = {u.username: u for u in User.objects.filter(username__in=addresses)}
    missing = [a for a in addresses if a not in users]
    if missing:
        raise NotFound(f"No such user: {', '.join(sorted(missing))}.", code="user_not_found")
    identity_keys = {row.user_id: bytes(row.public_key) for row in IdentityKey.objects.filter(user__in=users.values())}
    with transaction.atomic():
        devices = Device.objects.filter(user__in=users.values()).select_related("user").order_by("pk")
        if device_ids is not None:
            devices = devices.filter(pk__in=device_ids)
        for device in devices:
            package = (
                KeyPackage.objects.select_for_update(skip_locked=True).filter(device=device).order_by("pk").first()
            )
            if package is not None:
                KeyPackage.objects.filter(pk=package.pk).delete()
            result.setdefault(device.user.username, []).append(
                {
                    "device_id": device.pk,
                    "client_device_id": str(device.client_device_id),
                    "keypackage": bytes(package.data) if package is not None else None,
                    # What the claimer's client checks before it adds this device (the server cannot make either).
                    "identity_key": identity_keys.get(device.user_id),
                    "certificate": bytes(device.certificate) if device.certificate is not None else None,
                }
            )
    for address in addresses:
        result.setdefault(address, [])
    return result
