"""The instance's persistent Ed25519 key: created once at first boot, never regenerated.

Peers pin its public half (TOFU), so losing or replacing it breaks federation; it
lives in TALKEE_KEY_DIR (default var/keys/) with mode 0600.
"""

from functools import cache
from pathlib import Path

from django.conf import settings
from nacl.signing import SigningKey

from apps.core.keyfiles import install_once

KEY_FILE = "instance_ed25519"


def key_path() -> Path:
    return Path(settings.TALKEE_KEY_DIR) / KEY_FILE


def ensure_instance_key() -> bool:
    """Create the key file if it does not exist. Returns True when it was created."""
    return install_once(key_path(), lambda: bytes(SigningKey.generate()))


@cache
def instance_signing_key() -> SigningKey:
    ensure_instance_key()
    seed = key_path().read_bytes()
    if len(seed) != 32:
        raise RuntimeError(f"{key_path()} is not a 32-byte Ed25519 seed; refusing to replace it.")
    return SigningKey(seed)
