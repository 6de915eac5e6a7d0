"""Backups that restore: one tar archive holding a database snapshot, the blob store and the
instance's keys, and the way back into a fresh instance (`manage.py backup` / `restore`).

Consistency: the database snapshot is taken first, then the blob store is copied. A blob's
file is written whole before the row naming it commits (apps/blobs/storage.py), so every
file the snapshot names exists when the copy runs; files written later are extra, and the
restored instance's orphan purge removes them in time. A file whose row is dropped after the
snapshot (an upload's parts once it is assembled, a purge) is still named by the snapshot:
from before the snapshot until the copy is done, deletions are fenced off
(apps/core/deletion_fence.py) and those files wait for the orphan purge instead.

The archive is built under a hidden temporary name beside the target, the manifest (format
version, size and SHA-256 of every member) is its last member, and only a finished, fsynced
archive is linked to the target name. Any failure removes the temporary files, so a name
without the hidden prefix is always a complete archive. Restore reads the whole archive and
checks every checksum before it changes anything.

Only the file system blob storage (settings.TALKEE_BLOB_DIR) is backed up here; the key
files are every regular file in settings.TALKEE_KEY_DIR (the instance key, the VAPID key).
"""

import errno
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from django.conf import settings

from apps.adminpanel import database_dump
from apps.core.deletion_fence import deletions_held

FORMAT = "talkee-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_MEMBERS = {database_dump.POSTGRESQL: "database.pgdump", database_dump.SQLITE: "database.sqlite3"}
BLOBS = "blobs"
KEYS = "keys"
PIECE = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot be done; the message names the cause (no secret)."""


@dataclass(frozen=True)
class Summary:
    archive: Path
    blob_files: int
    blob_bytes: int
    key_files: int
    archive_bytes: int


def blob_dir() -> Path:
    blobs = cast(dict[str, Any], settings.STORAGES["blobs"])
    if blobs["BACKEND"] != "django.core.files.storage.FileSystemStorage":
        raise BackupError(
            f"blob storage is {blobs['BACKEND']}, not the file system: back it up with that storage's own tools"
        )
    return Path(blobs["OPTIONS"]["location"])


def key_dir() -> Path:
    return Path(settings.TALKEE_KEY_DIR)


def _explain(error: OSError, doing: str) -> BackupError:
    if error.errno == errno.ENOSPC:
        return BackupError(f"no space left on the device while {doing}")
    if error.errno == errno.EDQUOT:
        return BackupError(f"the disk quota is exhausted while {doing}")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return BackupError(f"not allowed while {doing}: {error.strerror}")
    return BackupError(f"{doing} failed: {error.strerror or error}")


class _Hashing:
    """Reads through to `source`, keeping a SHA-256 of what passed."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.sha256.update(data)
        return data


def _regular_files(root: Path) -> Iterator[tuple[PurePosixPath, Path]]:
    """(name relative to root, path) of every regular file below root, in a stable order;
    hidden names (the backup fence, temporary files being written) are left out."""
    if not root.is_dir():
        return
    for directory, subdirectories, files in os.walk(root):
        subdirectories.sort()
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink():
                yield PurePosixPath(path.relative_to(root).as_posix()), path


class _ArchiveWriter:
    def __init__(self, path: Path) -> None:
        self.handle = path.open("xb")
        self.tar = tarfile.open(fileobj=self.handle, mode="w", format=tarfile.PAX_FORMAT)
        self.members: dict[str, dict[str, Any]] = {}

    def add_file(self, name: str, path: Path, mode: int = 0o600) -> bool:
        """Add `path` as `name`; False when the file is gone (deleted since it was listed)."""
        try:
            source = path.open("rb")
        except FileNotFoundError:
            return False
        with source:
            status = os.fstat(source.fileno())
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = status.st_size, mode, int(status.st_mtime)
            reader = _Hashing(source)
            self.tar.addfile(info, reader)  # type: ignore[arg-type]  # tarfile only calls read()
        self.members[name] = {"size": info.size, "sha256": reader.sha256.hexdigest()}
        return True

    def finish(self, manifest: dict[str, Any]) -> None:
        body = json.dumps({**manifest, "members": self.members}, indent=1, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode, info.mtime = len(body), 0o600, int(time.time())
        self.tar.addfile(info, io.BytesIO(body))
        self.tar.close()
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()

    def abandon(self) -> None:
        try:
            self.tar.close()
        except OSError:
            pass
        self.handle.close()


def default_archive_name() -> str:
    return f"talkee-backup-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.tar"


def _target_path(target: Path) -> Path:
    if target.is_dir():
        target = target / default_archive_name()
    if target.exists():
        raise BackupError(f"{target} exists; backup never overwrites an archive")
    if not target.parent.is_dir():
        raise BackupError(f"the directory {target.parent} does not exist")
    return target


def do_backup(target: Path) -> Summary:
    """Write a complete archive to `target` (a new file, or a new name in a directory);
    nothing is left at any name that looks like an archive when it fails."""
    target = _target_path(target)
    blobs, keys = blob_dir(), key_dir()
    database_engine = database_dump.engine()
    try:
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    except OSError as error:
        raise _explain(error, f"creating a temporary directory in {target.parent}") from None
    try:
        # From before the snapshot until the copy is done, no blob file is deleted.
        with deletions_held(blobs) if blobs.is_dir() else nullcontext():
            return _write_archive(target, scratch, blobs, keys, database_engine)
    except OSError as error:  # the fence: _write_archive explains its own
        raise _explain(error, f"fencing off deletions in the blob directory {blobs}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_archive(target: Path, scratch: Path, blobs: Path, keys: Path, database_engine: str) -> Summary:
    snapshot = scratch / DATABASE_MEMBERS[database_engine]
    try:
        database_dump.dump_to(snapshot)  # first: every blob it names exists from here on
    except database_dump.DatabaseDumpError as error:
        raise BackupError(str(error)) from None
    except OSError as error:
        raise _explain(error, f"writing the database snapshot in {target.parent}") from None
    partial = scratch / "archive.tar"
    blob_files = blob_bytes = key_files = 0
    try:
        writer = _ArchiveWriter(partial)
        try:
            writer.add_file(DATABASE_MEMBERS[database_engine], snapshot)
            snapshot.unlink()  # the space goes to the blobs
            for name, path in _regular_files(blobs):
                if writer.add_file(f"{BLOBS}/{name}", path):
                    blob_files += 1
                    blob_bytes += writer.members[f"{BLOBS}/{name}"]["size"]
            for name, path in _regular_files(keys):
                if len(name.parts) == 1:
                    if writer.add_file(f"{KEYS}/{name}", path):
                        key_files += 1
            writer.finish(
                {
                    "format": FORMAT,
                    "version": FORMAT_VERSION,
                    "created": datetime.now(UTC).isoformat(timespec="seconds"),
                    "domain": settings.TALKEE_DOMAIN,
                    "database": {"engine": database_engine, "member": DATABASE_MEMBERS[database_engine]},
                }
            )
        except BaseException:
            writer.abandon()
            raise
        os.chmod(partial, 0o600)  # it holds the instance's private keys
        os.link(partial, target)  # fails rather than replace a file that appeared meanwhile
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except FileExistsError:
        raise BackupError(f"{target} appeared while the backup ran; nothing was replaced") from None
    except OSError as error:
        raise _explain(error, f"writing the archive in {target.parent}") from None
    return Summary(target, blob_files, blob_bytes, key_files, target.stat().st_size)


# --- restore ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    domain: str
    engine: str
    database_member: str
    members: dict[str, dict[str, Any]]


def _checked_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError(f"the archive names a file outside the instance ({name}); refusing it")
    return path


def _open_archive(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, mode="r:")
    except FileNotFoundError:
        raise BackupError(f"{archive} does not exist") from None
    except (tarfile.TarError, OSError) as error:
        raise BackupError(f"{archive} is not a Talkee backup archive ({error})") from None


def verify_archive(archive: Path) -> Manifest:
    """Read the whole archive: every member's checksum must match the manifest, which must be
    the last member, and nothing may be missing or extra. Changes nothing."""
    seen: dict[str, dict[str, Any]] = {}
    manifest_body: bytes | None = None
    try:
        with _open_archive(archive) as tar:
            for member in tar:
                if manifest_body is not None:
                    raise BackupError(f"{archive} has members after its manifest; refusing it")
                if not member.isfile():
                    raise BackupError(f"{archive} holds something other than files ({member.name}); refusing it")
                _checked_name(member.name)
                source = tar.extractfile(member)
                assert source is not None
                if member.name == MANIFEST:
                    manifest_body = source.read()
                    continue
                digest, size = hashlib.sha256(), 0
                while piece := source.read(PIECE):
                    digest.update(piece)
                    size += len(piece)
                seen[member.name] = {"size": size, "sha256": digest.hexdigest()}
    except (tarfile.TarError, EOFError) as error:
        raise BackupError(f"{archive} is damaged or incomplete ({error})") from None
    except OSError as error:
        raise _explain(error, f"reading {archive}") from None
    if manifest_body is None:
        raise BackupError(f"{archive} has no manifest: it is incomplete or not a Talkee backup")
    try:
        manifest = json.loads(manifest_body)
        if manifest["format"] != FORMAT:
            raise BackupError(f"{archive} is not a Talkee backup (format {manifest['format']!r})")
        if manifest["version"] != FORMAT_VERSION:
            raise BackupError(
                f"{archive} is format version {manifest['version']}; this Talkee reads version {FORMAT_VERSION}"
            )
        members: dict[str, dict[str, Any]] = manifest["members"]
        parsed = Manifest(
            str(manifest["domain"]), manifest["database"]["engine"], manifest["database"]["member"], members
        )
    except (ValueError, KeyError, TypeError):
        raise BackupError(f"{archive} has an unreadable manifest") from None
    missing = sorted(set(members) - set(seen))
    extra = sorted(set(seen) - set(members))
    damaged = sorted(name for name in set(members) & set(seen) if members[name] != seen[name])
    if missing or extra or damaged:
        problems = [
            f"{len(damaged)} member(s) do not match their checksum" if damaged else "",
            f"{len(missing)} member(s) missing" if missing else "",
            f"{len(extra)} member(s) not in the manifest" if extra else "",
        ]
        raise BackupError(f"{archive} is damaged: {', '.join(p for p in problems if p)}; nothing was restored")
    if parsed.database_member not in members:
        raise BackupError(f"{archive} has no database snapshot")
    return parsed


def _write_private(path: Path, source: IO[bytes], mtime: float) -> None:
    """Write a file under a temporary name beside `path`, then move it there (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.restoring-")
    try:
        with os.fdopen(fd, "wb") as handle:
            shutil.copyfileobj(source, handle, PIECE)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, stat.S_IRUSR | stat.S_IWUSR)
        os.utime(temporary, (mtime, mtime))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class RestoreSummary:
    blob_files: int
    key_files: int
    domain: str


def do_restore(archive: Path, *, force: bool = False) -> RestoreSummary:
    """Put the archive's database, blobs and keys in place of this instance's (stopped).

    Refuses, before changing anything, a damaged archive, one from another domain or
    database engine, and a database that already holds data (unless `force`)."""
    manifest = verify_archive(archive)
    if manifest.domain != settings.TALKEE_DOMAIN:
        raise BackupError(
            f"the archive is of the instance {manifest.domain}, this one is {settings.TALKEE_DOMAIN} "
            "(set TALKEE_DOMAIN to the archive's)"
        )
    try:
        this_engine = database_dump.engine()
        if manifest.engine != this_engine:
            raise BackupError(f"the archive holds a {manifest.engine} database; this instance uses {this_engine}")
        in_the_way = database_dump.data_in_the_way()
    except database_dump.DatabaseDumpError as error:
        raise BackupError(str(error)) from None
    if in_the_way and not force:
        raise BackupError(f"the {database_dump.describe()} {in_the_way}; restore replaces a database only with --force")
    blobs, keys = blob_dir(), key_dir()
    blob_files = key_files = 0
    try:
        with _open_archive(archive) as tar:
            for member in tar:
                source = tar.extractfile(member)
                assert source is not None
                name = _checked_name(member.name)
                if member.name == manifest.database_member:
                    database_dump.load_from(source)
                elif name.parts[0] == BLOBS:
                    _write_private(blobs.joinpath(*name.parts[1:]), source, member.mtime)
                    blob_files += 1
                elif name.parts[0] == KEYS and len(name.parts) == 2:
                    _write_private(keys / name.parts[1], source, member.mtime)
                    key_files += 1
        if keys.is_dir():
            keys.chmod(0o700)
    except database_dump.DatabaseDumpError as error:
        raise BackupError(str(error)) from None
    except OSError as error:
        raise _explain(error, "restoring the archive") from None
    return RestoreSummary(blob_files, key_files, manifest.domain)
