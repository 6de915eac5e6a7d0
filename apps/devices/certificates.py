"""Identity keys and device certificates: stored and served, checked on the way in, never made.

The certificate format is web/src/identity/certificate.ts:
    body = 0x01 || u16 len || user || u16 len || device id || ed25519 (32) || x25519 (32)
           || u64 created || u64 expires || identity key (32)
    certificate = body || Ed25519 signature by the identity key over
           b"talkee-device-cert-v1" || 0x00 || body
Clients verify certificates against the identity key they pinned; the checks here only keep
garbage, other users' certificates and a silently swapped identity key out of the database.
"""

import struct
from dataclasses import dataclass

from django.db import transaction
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from apps.accounts.models import User
from apps.core.b64 import b64
from apps.core.errors import Conflict, NotFound, ServiceError
from apps.devices import keylog, services
from apps.devices.models import Device, IdentityKey, KeyLogEntry

CERTIFICATE_CONTEXT = b"talkee-device-cert-v1"
CERTIFICATE_MAX_BYTES = 1024


@dataclass(frozen=True)
class Certificate:
    user: str
    device_id: str
    ed25519_pub: bytes
    x25519_pub: bytes
    created: int
    expires: int
    identity_key: bytes
    body: bytes
    signature: bytes


def _invalid(message: str) -> ServiceError:
    return ServiceError(message, code="invalid_certificate")


def parse_certificate(data: bytes) -> Certificate:
    """The certificate's fields, or ServiceError(invalid_certificate) for anything malformed."""
    if len(data) > CERTIFICATE_MAX_BYTES:
        raise _invalid("The device certificate is too long.")
    try:
        at = 0
        if data[at] != 1:
            raise _invalid("Unknown device certificate version.")
        at += 1
        (user_len,) = struct.unpack_from(">H", data, at)
        user = data[at + 2 : at + 2 + user_len].decode("utf-8")
        at += 2 + user_len
        (device_len,) = struct.unpack_from(">H", data, at)
        device_id = data[at + 2 : at + 2 + device_len].decode("utf-8")
        at += 2 + device_len
        ed25519_pub, x25519_pub = data[at : at + 32], data[at + 32 : at + 64]
        created, expires = struct.unpack_from(">QQ", data, at + 64)
        identity_key = data[at + 80 : at + 112]
        body, signature = data[: at + 112], data[at + 112 :]
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise _invalid("The device certificate is malformed.") from exc
    if len(identity_key) != 32 or len(signature) != 64 or not user or not device_id:
        raise _invalid("The device certificate is malformed.")
    return Certificate(user, device_id, ed25519_pub, x25519_pub, created, expires, identity_key, body, signature)


def check_certificate(device: Device, identity_key: bytes, certificate: bytes) -> None:
    """ServiceError(invalid_certificate) unless `certificate` is `identity_key`'s signature over
    this device: its user, its client device id and its two public keys."""
    services.check_ed25519_public_key(identity_key)
    cert = parse_certificate(certificate)
    if cert.identity_key != identity_key:
        raise _invalid("The device certificate is signed by another identity key.")
    try:
        VerifyKey(identity_key).verify(CERTIFICATE_CONTEXT + b"\x00" + cert.body, cert.signature)
    except (BadSignatureError, ValueError) as exc:
        raise _invalid("The device certificate's signature does not verify.") from exc
    if cert.user != device.user.username or cert.device_id != str(device.client_device_id):
        raise _invalid("The device certificate is for another user or device.")
    if cert.ed25519_pub != bytes(device.ed25519_pub) or cert.x25519_pub != bytes(device.x25519_pub):
        raise _invalid("The device certificate names other keys than this device's.")


def do_set_certificate(
    device: Device, identity_key: bytes, certificate: bytes, sealed_identity: bytes | None = None
) -> bool:
    """Store `certificate` for `device` (of the caller's own user), signed by `identity_key`,
    and `sealed_identity` (the identity key sealed to that device by the one approving it).
    True when the device had no certificate before: it was just approved.

    The first identity key a user sets is kept; another one is refused (changing the identity
    key is not an API call — it would warn every contact)."""
    check_certificate(device, identity_key, certificate)
    with transaction.atomic():
        held, created = IdentityKey.objects.select_for_update().get_or_create(
            user_id=device.user_id, defaults={"public_key": identity_key}
        )
        if bytes(held.public_key) != identity_key:
            raise Conflict("This account already has another identity key.", code="identity_key_conflict")
        if created:
            keylog.append(device.user, KeyLogEntry.Kind.IDENTITY, identity_key)
        before = Device.objects.filter(pk=device.pk).values_list("certificate", flat=True).first()
        was_certified = before is not None
        if before is None or bytes(before) != certificate:
            keylog.append(device.user, KeyLogEntry.Kind.CERTIFIED, certificate)
        changes: dict[str, bytes] = {"certificate": certificate}
        if sealed_identity is not None:
            changes["sealed_identity"] = sealed_identity
        Device.objects.filter(pk=device.pk).update(**changes)
    device.certificate = certificate
    if sealed_identity is not None:
        device.sealed_identity = sealed_identity
    return not was_certified


def identity_keys_of(user_ids: list[int]) -> dict[int, bytes]:
    return {row.user_id: bytes(row.public_key) for row in IdentityKey.objects.filter(user_id__in=user_ids)}


def mirror_certificates(device: Device, identity_key: bytes | None, certificate: bytes | None) -> None:
    """A remote user's identity key and one device's certificate as their instance answered them,
    kept on this instance's mirror (inside the caller's transaction).

    The user's instance speaks for them: a changed identity key replaces the mirrored one (the
    clients, which pinned the old one, warn). A certificate that does not verify for this device
    is a wrong answer (502), never stored. The clients check both again: a lying peer can make
    its own user's devices unusable here, not add one."""
    if certificate is not None:
        if identity_key is None:
            raise ServiceError(
                "A peer sent a device certificate without an identity key.", code="invalid_peer_answer", status=502
            )
        try:
            check_certificate(device, identity_key, certificate)
        except ServiceError as exc:
            raise ServiceError(
                f"A peer sent a device certificate that does not verify: {exc.message}",
                code="invalid_peer_answer",
                status=502,
            ) from exc
    if identity_key is not None:
        IdentityKey.objects.update_or_create(user_id=device.user_id, defaults={"public_key": identity_key})
    elif certificate is None:
        IdentityKey.objects.filter(user_id=device.user_id).delete()
    if (bytes(device.certificate) if device.certificate is not None else None) != certificate:
        Device.objects.filter(pk=device.pk).update(certificate=certificate)
        device.certificate = certificate


def certificates_of(address: str) -> dict[str, object]:
    """What any signed-in user may read about `address`'s devices (a KeyPackage claim shows as much;
    for a remote user, what their instance last answered: `federation.refresh_remote_user` first)."""
    user = User.objects.filter(username=address).first()
    if user is None:
        raise NotFound(f"No such user: {address}.", code="user_not_found")
    key = IdentityKey.objects.filter(user=user).first()
    devices = Device.objects.filter(user=user).order_by("pk")
    return {
        "user": user.username,
        "identity_key": b64(key.public_key) if key is not None else None,
        "devices": [
            {
                "client_device_id": str(d.client_device_id),
                "certificate": b64(d.certificate) if d.certificate is not None else None,
            }
            for d in devices
        ],
    }


def log_document(address: str, start: int) -> dict[str, object]:
    """A local user's key log as clients read it (apps/devices/keylog.py)."""
    user = User.objects.get(username=address)
    log = keylog.signed_log(user, start)
    return {
        "size": log.size,
        "head": b64(log.head),
        "signature": b64(log.signature),
        "entries": [{"index": i, "kind": KeyLogEntry.Kind(k).label, "body": b64(b)} for i, k, b in log.entries],
    }
