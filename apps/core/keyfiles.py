"""Private key files created once and never replaced (the instance key, the VAPID key)."""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def install_once(path: Path, make: Callable[[], bytes]) -> bool:
    """Write `make()` to `path` with mode 0600 unless the file exists; True when written.

    The bytes go whole to a private temporary file, then are linked into place: link()
    fails if the key exists, so two processes starting together cannot both install one,
    and neither ever reads a file that is still being written (or that a crash left empty)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        return False
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(make())
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    return True
