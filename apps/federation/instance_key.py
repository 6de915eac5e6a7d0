"""The instance's persistent Ed25519 key: created once at first boot, never regenerated.

Peers pin its public half (TOFU), so losing or replacing it breaks federation; it
lives in TALKEE_KEY_DIR (default var/keys/) with mode 0600.
"""

import os
import tempfile
from functools import cache
from pathlib import Path

from django.conf import settings
from nacl.signing import SigningKey

KEY_FILE = "instance_ed25519"


def key_path() -> Path:
    return Path(settings.TALKEE_KEY_DIR) / KEY_FILE


def ensure_instance_key() -> bool:
    """Create the key file if it does not exist. Returns True when it was created."""
    path = key_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        return False
    # The seed is written whole to a private temporary file, then linked into place:
    # link() fails if the key exists, so two processes starting together cannot both
    # install one, and neither ever reads a file that is still being written (or that a
    # crash left empty).
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".instance-key-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(bytes(SigningKey.generate()))
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    return True


@cache
def instance_signing_key() -> SigningKey:
    ensure_instance_key()
    seed = key_path().read_bytes()
    if len(seed) != 32:
        raise RuntimeError(f"{key_path()} is not a 32-byte Ed25519 seed; refusing to replace it.")
    return SigningKey(seed)
