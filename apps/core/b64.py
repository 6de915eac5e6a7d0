"""The one base64 helper: binary values travel as standard base64 (with padding) in JSON,
to clients and to peers alike. Web Push (RFC 8291/8292) speaks unpadded base64url: `b64url`."""

import base64
from typing import Any


def b64(value: bytes | memoryview) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


def b64_or_none(value: bytes | memoryview | None) -> str | None:
    return None if value is None else b64(value)


def unb64(value: Any) -> bytes:
    """Strict decoding (binascii.Error, a ValueError, on anything but standard base64)."""
    return base64.b64decode(str(value), validate=True)


def unb64_or_none(value: Any) -> bytes | None:
    return None if value is None else unb64(value)


def b64url(value: bytes | memoryview) -> str:
    """Unpadded base64url, as Web Push keys and VAPID use it."""
    return base64.urlsafe_b64encode(bytes(value)).rstrip(b"=").decode("ascii")


def unb64url(value: str) -> bytes:
    """base64url with or without padding (binascii.Error, a ValueError, on anything else)."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
