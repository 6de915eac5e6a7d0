"""The instance's VAPID key (RFC 8292, P-256): created once at first start, never regenerated.

Browsers bind each push subscription to this public key; replacing it would silently
orphan every subscription. It lives beside the instance key (TALKEE_KEY_DIR, mode 0600).
"""

from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from apps.core.b64 import b64url
from apps.core.keyfiles import install_once

KEY_FILE = "vapid_p256.pem"


def key_path() -> Path:
    return Path(settings.TALKEE_KEY_DIR) / KEY_FILE


def ensure_vapid_key() -> bool:
    """Create the key file if it does not exist. Returns True when it was created."""
    return install_once(key_path(), _new_pem)


def _new_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@cache
def vapid_private_key() -> ec.EllipticCurvePrivateKey:
    ensure_vapid_key()
    key = serialization.load_pem_private_key(key_path().read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise RuntimeError(f"{key_path()} is not a P-256 private key; refusing to replace it.")
    return key


def vapid_public_key() -> str:
    """The application server key browsers subscribe with: the uncompressed point, base64url."""
    point = (
        vapid_private_key()
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return b64url(point)
