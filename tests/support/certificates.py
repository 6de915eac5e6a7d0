"""Device certificates as the PWA makes them (web/src/identity/certificate.ts): the tests act as
a user's client holding the identity key."""

import struct

from nacl.signing import SigningKey

CONTEXT = b"talkee-device-cert-v1"


def device_certificate(
    identity: SigningKey, user: str, client_device_id: str, ed25519_pub: bytes, x25519_pub: bytes
) -> bytes:
    """The canonical certificate bytes, signed by `identity` (created at a fixed time, never expiring)."""
    user_b, device_b = user.encode(), client_device_id.encode()
    body = (
        b"\x01"
        + struct.pack(">H", len(user_b))
        + user_b
        + struct.pack(">H", len(device_b))
        + device_b
        + ed25519_pub
        + x25519_pub
        + struct.pack(">QQ", 1_700_000_000, 0)
        + bytes(identity.verify_key)
    )
    return body + identity.sign(CONTEXT + b"\x00" + body).signature
