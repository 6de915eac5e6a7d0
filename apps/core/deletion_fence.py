"""A fence between `manage.py backup` and the deletion of blob files.

A backup snapshots the database, then copies the blob files its rows name. A file is deleted
after the transaction that drops its row commits; if that commit comes after the snapshot,
the snapshot still names the file, so it must not go before the copy has it. The backup
holds an exclusive lock on a hidden file in the blob directory from before its snapshot
until its copy is done; a deletion takes the lock shared without waiting and, when a backup
holds it, leaves the files where they are. Nothing is lost by that: no row names them any
more, so the hourly orphan purge removes them later.

A deletion already under way when the backup asks for the lock finishes first (the backup
waits for it), and its rows' commit came before the snapshot. `flock` locks are shared by
every process on one host (the compose services share the blob volume); they do not reach
across hosts on a network file system.
"""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FENCE_FILE = ".backup-fence"


@contextmanager
def deletions_held(directory: Path) -> Iterator[None]:
    """While inside, no file in `directory` is deleted (waits for deletions in flight)."""
    fd = os.open(directory / FENCE_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def deletions_allowed(directory: Path) -> Iterator[bool]:
    """True inside when files in `directory` may be deleted now (no backup is copying them)."""
    try:
        fd = os.open(directory / FENCE_FILE, os.O_RDONLY)
    except FileNotFoundError:
        yield True  # never backed up: nothing to wait for
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
