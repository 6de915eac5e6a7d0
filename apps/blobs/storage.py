"""Blob bytes on Django's storage API ("blobs" in settings.STORAGES).

Names are random (`xx/<32 hex>`), never derived from a blob id, chat, user or file name,
so a directory listing says nothing. Bytes are moved in small pieces; no whole chunk or
file is ever held in memory. Files follow their rows: when a Blob or BlobChunk row is
deleted (by a service, a purge or a cascade from a deleted chat) its file is removed
after the transaction commits, never before, so a rollback cannot lose data.
"""

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol, cast

from blake3 import blake3
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models.signals import post_delete

from apps.core.deletion_fence import deletions_allowed

logger = logging.getLogger("talkee.blobs")

PIECE = 64 * 1024


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def blob_storage() -> Storage:
    return storages["blobs"]


def new_storage_name(prefix: str = "") -> str:
    token = secrets.token_hex(16)
    return f"{prefix}{token[:2]}/{token}"


class _MeteredReader:
    """Reads at most `limit` bytes from `source`, hashing and counting what passes."""

    def __init__(self, source: Readable, limit: int) -> None:
        self.source = source
        self.remaining = limit
        self.count = 0
        self.hasher = blake3()

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        want = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self.source.read(min(want, PIECE))
        self.remaining -= len(data)
        self.count += len(data)
        self.hasher.update(data)
        return data


def digest_stream(source: Readable, limit: int) -> tuple[bytes, int]:
    """BLAKE3 and length of the next `limit` bytes of `source`, read piece by piece."""
    reader = _MeteredReader(source, limit)
    while reader.read(PIECE):
        pass
    return reader.hasher.digest(), reader.count


def save_stream(source: Readable, limit: int, prefix: str = "") -> tuple[str, bytes, int]:
    """Copy the next `limit` bytes of `source` to a new random name.

    Returns (name, BLAKE3 digest, bytes written); on any error nothing is left behind."""
    reader = _MeteredReader(source, limit)
    name = new_storage_name(prefix)
    storage = blob_storage()
    try:
        name = storage.save(name, File(cast(IO[bytes], reader), name=name))
    except BaseException:
        delete_files_now([name])
        raise
    return name, reader.hasher.digest(), reader.count


class DamagedPart(Exception):
    def __init__(self, index: int) -> None:
        super().__init__(f"part {index} does not match what was received")
        self.index = index


class _Concatenation:
    """The parts, in order, as one readable stream; each part's length and digest are
    checked as it is read, so damaged storage is never assembled into a blob."""

    def __init__(self, parts: Iterable[tuple[int, str, int, bytes]]) -> None:
        self.parts: Iterator[tuple[int, str, int, bytes]] = iter(parts)
        self.current: IO[bytes] | None = None
        self.expected: tuple[int, int, bytes] = (0, 0, b"")
        self.count = 0
        self.hasher = blake3()

    def _finish_part(self) -> None:
        assert self.current is not None
        self.current.close()
        self.current = None
        index, length, digest = self.expected
        if self.count != length or self.hasher.digest() != digest:
            raise DamagedPart(index)

    def read(self, size: int = -1) -> bytes:
        while True:
            if self.current is None:
                part = next(self.parts, None)
                if part is None:
                    return b""
                index, name, length, digest = part
                self.expected = (index, length, digest)
                self.count = 0
                self.hasher = blake3()
                try:
                    self.current = blob_storage().open(name, "rb")
                except FileNotFoundError:
                    raise DamagedPart(index) from None
            data = self.current.read(PIECE if size is None or size < 0 else min(size, PIECE))
            if data:
                self.count += len(data)
                self.hasher.update(data)
                return bytes(data)
            self._finish_part()

    def close(self) -> None:
        if self.current is not None:
            self.current.close()


def save_concatenation(parts: Iterable[tuple[int, str, int, bytes]]) -> str:
    """Write the parts (index, storage name, length, digest) as one new file; its name."""
    source = _Concatenation(parts)
    name = new_storage_name()
    try:
        name = blob_storage().save(name, File(cast(IO[bytes], source), name=name))
    except BaseException:
        source.close()
        delete_files_now([name])
        raise
    return name


def stored_names(directory: str = "") -> Iterator[str]:
    """Every file name in blob storage (assembled blobs and chunk parts), walked lazily."""
    storage = blob_storage()
    try:
        directories, files = storage.listdir(directory)
    except FileNotFoundError:
        return
    for file_name in files:
        if not file_name.startswith("."):  # the backup fence, a restore's temporary files
            yield f"{directory}{file_name}"
    for sub in directories:
        yield from stored_names(f"{directory}{sub}/")


def open_blob_file(name: str) -> IO[bytes]:
    return blob_storage().open(name, "rb")  # type: ignore[no-any-return]


def delete_files_now(names: Iterable[str]) -> None:
    names = [n for n in names if n]
    if not names:
        return
    storage = blob_storage()
    location = getattr(storage, "location", None)  # the file system storage's directory
    if location is None or not Path(location).is_dir():
        _delete(storage, names)
        return
    with deletions_allowed(Path(location)) as allowed:
        if allowed:
            _delete(storage, names)
        else:
            # A backup is copying files its snapshot may name (apps/core/deletion_fence.py);
            # no row names these any more, so the orphan purge deletes them later.
            logger.info("blob files left for the orphan purge: a backup is running", extra={"files": len(names)})


def _delete(storage: Storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except OSError as exc:
            # A leftover file holds only ciphertext; log the kind of failure, not the name.
            logger.warning("blob file not deleted", extra={"error_type": type(exc).__name__})


def delete_files_on_commit(names: Iterable[str]) -> None:
    names = [n for n in names if n]
    if names:
        transaction.on_commit(lambda: delete_files_now(names))


def _blob_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    delete_files_on_commit([instance.storage_name])


def connect_file_cleanup() -> None:
    from apps.blobs.models import Blob, BlobChunk

    post_delete.connect(_blob_deleted, sender=Blob, dispatch_uid="blobs.blob_file")
    post_delete.connect(_blob_deleted, sender=BlobChunk, dispatch_uid="blobs.chunk_file")


DOWNLOAD_PIECE = 64 * 1024


def iter_range(file: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    """Bytes [start, start + length) of an opened stored file, a piece at a time; closes it."""
    with file:
        file.seek(start)
        remaining = length
        while remaining > 0:
            data = file.read(min(DOWNLOAD_PIECE, remaining))
            if not data:
                return
            remaining -= len(data)
            yield data


async def aiter_range(file: IO[bytes], start: int, length: int) -> AsyncIterator[bytes]:
    """The same for an ASGI response: Django would read a synchronous iterator into one
    list before sending it, so each piece is read in a thread and sent before the next."""
    try:
        await asyncio.to_thread(file.seek, start)
        remaining = length
        while remaining > 0:
            data = await asyncio.to_thread(file.read, min(DOWNLOAD_PIECE, remaining))
            if not data:
                return
            remaining -= len(data)
            yield data
            # daphne hands each piece to Twisted without backpressure; giving the event
            # loop a few turns lets the socket drain before the next piece is read.
            for _ in range(4):
                await asyncio.sleep(0)
    finally:
        await asyncio.to_thread(file.close)
