"""Blob actions: start an upload, store a chunk, complete, attach to messages, release.

Sealed sender holds here too: the uploading user is used to authorise each call and to
charge an allowance that names no blob, and is then dropped; no blob row, storage name
or log line links a blob to its uploader.
"""

import itertools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.blobs import selectors
from apps.blobs.federation import upload_pieces
from apps.blobs.models import Blob, BlobAttachment, BlobChunk, UploadAllowance
from apps.blobs.sizes import ACCEPTED_SIZES
from apps.blobs.storage import (
    DamagedPart,
    Readable,
    blob_storage,
    delete_files_now,
    digest_stream,
    save_concatenation,
    save_stream,
    stored_names,
)
from apps.chats.models import Chat
from apps.chats.selectors import membership_of
from apps.core.errors import Conflict, Forbidden, NotFound, ServiceError
from apps.messages.models import Message


@dataclass(frozen=True)
class StoredChunk:
    index: int
    length: int
    created: bool


def _not_found() -> NotFound:
    return NotFound("No such blob.", code="blob_not_found")


def check_blob_size(size: int) -> None:
    if size not in ACCEPTED_SIZES:
        sizes = ", ".join(str(s) for s in sorted(ACCEPTED_SIZES))
        raise ServiceError(
            f"A blob must be a padded, encrypted file of one of these sizes: {sizes}.", code="invalid_size"
        )


def _window() -> int:
    return int(timezone.now().timestamp()) // int(settings.TALKEE_BLOB_QUOTA_WINDOW_SECONDS)


def _allowance_exceeded() -> ServiceError:
    return ServiceError("Your upload allowance is used up for now; try again later.", code="quota_exceeded", status=413)


def _check_allowance(user_id: int, size: int) -> None:
    """Refuse at once (413) an upload that cannot fit what is left of the allowance; the
    bytes are charged as they arrive (_charge_allowance), so an upload started and never
    sent costs only what it stored."""
    used = UploadAllowance.objects.filter(user_id=user_id, window=_window()).values_list("used", flat=True).first()
    if (used or 0) + size > settings.TALKEE_BLOB_QUOTA_BYTES:
        raise _allowance_exceeded()


def _charge_allowance(user_id: int, size: int) -> None:
    """Charge `size` bytes to the user's allowance for this window, or refuse with 413."""
    window = _window()
    UploadAllowance.objects.get_or_create(user_id=user_id, defaults={"window": window})
    allowance = UploadAllowance.objects.select_for_update().get(user_id=user_id)
    if allowance.window != window:
        allowance.window, allowance.used = window, 0
    if allowance.used + size > settings.TALKEE_BLOB_QUOTA_BYTES:
        raise _allowance_exceeded()
    allowance.used += size
    allowance.save(update_fields=["window", "used"])


def do_create_blob(user_id: int, chat_id: uuid.UUID | str, size: int) -> Blob:
    """Start an upload of `size` bytes (a padded bucket) for a chat the user is in."""
    check_blob_size(size)
    membership = membership_of(chat_id, user_id)
    if membership is None:
        raise NotFound("No such chat.", code="chat_not_found")
    if membership.chat.kind == Chat.Kind.CHANNEL and not membership.is_manager:
        raise Forbidden("Only the channel's owners and admins can post here.", code="channel_read_only")
    _check_allowance(user_id, size)
    with transaction.atomic():
        return Blob.objects.create(
            chat_id=chat_id,
            size=size,
            chunk_size=settings.TALKEE_BLOB_CHUNK_SIZE,
            expires_at=timezone.now() + timedelta(seconds=settings.TALKEE_BLOB_UPLOAD_TTL_SECONDS),
        )


def _uploading_blob(blob_id: uuid.UUID | str, user_id: int) -> Blob:
    blob = selectors.blob_for_member(blob_id, user_id)
    if blob is None:
        raise _not_found()
    if blob.is_complete:
        raise Conflict("This upload is already complete.", code="already_complete")
    return blob


def check_chunk(blob: Blob, index: int, length: int | None) -> int:
    """The length chunk `index` must have; refuses an index or length that cannot fit."""
    if not 0 <= index < blob.chunk_count:
        raise ServiceError(
            f"Chunk index must be between 0 and {blob.chunk_count - 1}.", code="chunk_out_of_range", status=400
        )
    expected = blob.chunk_length(index)
    if length is None:
        raise ServiceError(f"Send Content-Length: {expected}.", code="length_required", status=411)
    if length != expected:
        raise ServiceError(f"Chunk {index} must be exactly {expected} bytes.", code="wrong_chunk_length")
    return expected


def _same_as_stored(blob: Blob, index: int, digest: bytes) -> StoredChunk:
    stored = BlobChunk.objects.filter(blob=blob, index=index).values_list("digest", "length").first()
    if stored is None:
        raise _not_found()
    if bytes(stored[0]) != digest:
        raise Conflict(
            f"Chunk {index} is already stored with different bytes; start a new upload.", code="chunk_conflict"
        )
    return StoredChunk(index, stored[1], created=False)


def do_store_chunk(
    user_id: int, blob_id: uuid.UUID | str, index: int, body: Readable, length: int | None
) -> StoredChunk:
    """Stream one chunk to storage. Idempotent: the same bytes again are accepted (and
    not stored twice); different bytes for a stored chunk are refused with 409 and the
    stored chunk is left as it was."""
    blob = _uploading_blob(blob_id, user_id)
    expected = check_chunk(blob, index, length)
    if BlobChunk.objects.filter(blob=blob, index=index).exists():
        digest, received = digest_stream(body, expected)
        if received != expected:
            raise ServiceError(f"Chunk {index} ended after {received} bytes.", code="wrong_chunk_length")
        return _same_as_stored(blob, index, digest)
    name, digest, received = save_stream(body, expected, prefix="parts/")
    written = False
    try:
        if received != expected:
            raise ServiceError(f"Chunk {index} ended after {received} bytes.", code="wrong_chunk_length")
        with transaction.atomic():
            # The row lock orders this insert against completion and purge of the blob.
            if not Blob.objects.select_for_update().filter(pk=blob.pk, completed_at__isnull=True).exists():
                raise _not_found()
            _charge_allowance(user_id, received)
            BlobChunk.objects.create(blob=blob, index=index, storage_name=name, length=received, digest=digest)
        written = True
    except IntegrityError:
        # Another request stored this chunk first: same bytes are fine, others conflict.
        return _same_as_stored(blob, index, digest)
    finally:
        if not written:
            delete_files_now([name])
    return StoredChunk(index, received, created=True)


def do_complete_upload(user_id: int, blob_id: uuid.UUID | str) -> Blob:
    """Check every chunk is there and the total is the declared size, then assemble the
    blob. Until this succeeds nothing is served. Completing twice is harmless."""
    blob = selectors.blob_for_member(blob_id, user_id)
    if blob is None:
        raise _not_found()
    if blob.is_complete:
        return blob
    chunks = list(BlobChunk.objects.filter(blob=blob).order_by("index"))
    missing = sorted(set(range(blob.chunk_count)) - {c.index for c in chunks})
    if missing:
        shown = ", ".join(str(i) for i in missing[:20]) + (", …" if len(missing) > 20 else "")
        raise Conflict(f"{len(missing)} chunk(s) missing: {shown}.", code="upload_incomplete")
    if sum(c.length for c in chunks) != blob.size:
        raise Conflict("The chunks do not add up to the declared size.", code="upload_incomplete")
    try:
        name = save_concatenation((c.index, c.storage_name, c.length, bytes(c.digest)) for c in chunks)
    except DamagedPart as damaged:
        BlobChunk.objects.filter(blob=blob, index=damaged.index).delete()
        raise Conflict(
            f"Chunk {damaged.index} was damaged in storage; upload it again.", code="upload_incomplete"
        ) from None
    kept = False
    try:
        with transaction.atomic():
            locked = Blob.objects.select_for_update().filter(pk=blob.pk).first()
            if locked is None:
                raise _not_found()
            if locked.is_complete:
                return locked
            locked.storage_name = name
            locked.completed_at = timezone.now()
            locked.expires_at = locked.completed_at + timedelta(seconds=settings.TALKEE_BLOB_UPLOAD_TTL_SECONDS)
            locked.save(update_fields=["storage_name", "completed_at", "expires_at"])
            BlobChunk.objects.filter(blob=locked).delete()
            kept = True
    finally:
        if not kept:
            delete_files_now([name])
    return locked


def _completed_of_chat(chat_id: uuid.UUID | str, blob_ids: Iterable[uuid.UUID | str]) -> list[dict[str, Any]]:
    """Completed uploads made here for this chat, locked in a fixed order (the lock
    release_blobs takes too); refused unless every id is one."""
    wanted = sorted({uuid.UUID(str(b)) for b in blob_ids})
    locked = list(
        Blob.objects.select_for_update()
        .filter(pk__in=wanted, chat_id=chat_id, completed_at__isnull=False, at_home=False)
        .order_by("pk")
        .values("id", "size", "chunk_size")
    )
    if len(locked) != len(wanted):
        raise ServiceError("Each blob must be a completed upload to this chat.", code="invalid_blob")
    return [{"id": str(b["id"]), "size": b["size"], "chunk_size": b["chunk_size"]} for b in locked]


def hold_for_home(chat_id: uuid.UUID | str, blob_ids: Iterable[uuid.UUID | str]) -> list[dict[str, Any]]:
    """Files of a send forwarded to the chat's home: checked like a local attachment and
    kept until the home has ordered the message and pulled them (the copy that comes back
    links them, do_attach_home_blobs); purged after TALKEE_FEDERATION_BLOB_HOLD_SECONDS if
    the home never does (it refused the send). Returns what the home needs to pull them."""
    entries = _completed_of_chat(chat_id, blob_ids)
    hold = timezone.now() + timedelta(seconds=settings.TALKEE_FEDERATION_BLOB_HOLD_SECONDS)
    Blob.objects.filter(pk__in=[e["id"] for e in entries], expires_at__isnull=False).update(expires_at=hold)
    return entries


def do_pull_blobs(origin: str, chat_id: uuid.UUID, entries: Any, sender_id: int) -> list[uuid.UUID]:
    """At the chat's home: the files of a send forwarded from `origin`, pulled from there
    (signed, mutual TLS) into storage here, where every member's instance fetches them,
    like a file uploaded here. Each is charged to the sender's upload allowance here too
    (a peer's members cannot fill this instance's storage beyond it). Stored once: a blob
    already pulled is not fetched again; an id used here for anything else is refused.
    Returns the blob ids, for the send."""
    if not isinstance(entries, list) or len(entries) > 10:
        raise ServiceError("At most 10 files, on an application message.", code="invalid_blob")
    ids = []
    for entry in entries:
        blob_id, size, chunk_size = _blob_entry(entry)
        existing = Blob.objects.filter(pk=blob_id).values("chat_id", "at_home", "completed_at", "size").first()
        if existing is not None:
            same = existing["chat_id"] == chat_id and not existing["at_home"] and existing["size"] == size
            if not same or existing["completed_at"] is None:
                raise ServiceError("A forwarded file collides with another blob.", code="invalid_blob")
        else:
            with transaction.atomic():
                _charge_allowance(sender_id, size)
            name, _, received = save_stream(_Pieces(upload_pieces(origin, blob_id, size)), size)
            try:
                if received != size:
                    raise ServiceError("The sender's instance sent a file of the wrong size.", code="invalid_blob")
                now = timezone.now()
                with transaction.atomic():
                    Blob.objects.create(
                        id=blob_id,
                        chat_id=chat_id,
                        size=size,
                        chunk_size=chunk_size,
                        storage_name=name,
                        completed_at=now,
                        expires_at=now + timedelta(seconds=settings.TALKEE_BLOB_UPLOAD_TTL_SECONDS),
                    )
            except BaseException:
                delete_files_now([name])
                raise
        ids.append(blob_id)
    return ids


class _Pieces:
    """A readable over the pieces of a pulled file (one piece in memory at a time)."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self.pieces = iter(pieces)
        self.buffer = b""

    def read(self, size: int = -1) -> bytes:
        while not self.buffer:
            piece = next(self.pieces, None)
            if piece is None:
                return b""
            self.buffer = piece
        n = len(self.buffer) if size is None or size < 0 else size
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data


MAX_CHUNK_SIZE = 16 * 1024 * 1024


def _blob_entry(entry: Any) -> tuple[uuid.UUID, int, int]:
    """(id, padded size, chunk size) of a file entry a peer sent, checked."""
    if not isinstance(entry, dict):
        raise ServiceError("A file entry is an object.", code="invalid_blob")
    size, chunk_size = entry.get("size"), entry.get("chunk_size")
    # (a file smaller than one chunk has a chunk size above its size)
    if not isinstance(size, int) or not isinstance(chunk_size, int) or not 0 < chunk_size <= MAX_CHUNK_SIZE:
        raise ServiceError("A file needs its padded size and chunk size.", code="invalid_blob")
    check_blob_size(size)
    try:
        blob_id = uuid.UUID(str(entry.get("id")))
    except ValueError:
        raise ServiceError("A file needs its id.", code="invalid_blob") from None
    return blob_id, size, chunk_size


def do_attach_blobs(
    chat_id: uuid.UUID | str, message: Message, blob_ids: Iterable[uuid.UUID | str]
) -> list[dict[str, Any]]:
    """Link a message being sent to completed blobs of its chat (inside the send's
    transaction). Anything else — unknown, unfinished, another chat's — is refused.
    Returns what the chat's other instances need for their stubs: id and padded size."""
    wanted = sorted({uuid.UUID(str(b)) for b in blob_ids})
    if not wanted:
        return []
    if message.kind != Message.Kind.APPLICATION:
        raise ServiceError("Only application messages can carry files.", code="invalid_blob")
    entries = _completed_of_chat(chat_id, wanted)
    BlobAttachment.objects.bulk_create([BlobAttachment(blob_id=b, message=message) for b in wanted])
    # Referenced now: it lives as long as its messages, not until an upload deadline.
    Blob.objects.filter(pk__in=wanted).update(expires_at=None)
    return entries


def do_attach_home_blobs(chat_id: uuid.UUID | str, message: Message, entries: list[dict[str, Any]]) -> None:
    """Files of a message the chat's home delivered: a stub per blob (id, padded size, no
    bytes: they stay at the home), linked to the local copy; a repeat adds nothing. A file
    a member uploaded here (a send forwarded to the home, which pulled it) is linked
    itself. A blob id already used here for anything else is refused."""
    stubs = []
    for entry in entries:
        blob_id, size, chunk_size = _blob_entry(entry)
        stubs.append(Blob(id=blob_id, chat_id=chat_id, size=size, chunk_size=chunk_size))
    if not stubs:
        return
    ids = [b.id for b in stubs]
    ours = set(
        Blob.objects.filter(pk__in=ids, chat_id=chat_id, at_home=False, completed_at__isnull=False).values_list(
            "pk", flat=True
        )
    )
    if Blob.objects.filter(pk__in=ids).exclude(pk__in=ours).exclude(chat_id=chat_id, at_home=True).exists():
        raise ServiceError("A delivered file collides with another blob.", code="invalid_blob")
    now = timezone.now()
    for blob in stubs:
        blob.at_home, blob.completed_at, blob.expires_at = True, now, None
    Blob.objects.bulk_create([b for b in stubs if b.id not in ours], ignore_conflicts=True)
    Blob.objects.filter(pk__in=ours).update(expires_at=None)
    BlobAttachment.objects.bulk_create([BlobAttachment(blob_id=b, message=message) for b in ids], ignore_conflicts=True)


def release_blobs(message_ids: Iterable[int]) -> int:
    """The messages are gone (deleted, burnt, expired): drop their references and delete
    every blob that no live message references any more. Files go after commit."""
    ids = list(message_ids)
    if not ids:
        return 0
    links = BlobAttachment.objects.filter(message_id__in=ids)
    blob_ids = sorted(set(links.values_list("blob_id", flat=True)))
    if not blob_ids:
        return 0
    links.delete()
    # Locked in a fixed order, the same lock do_attach_blobs takes: a concurrent send
    # that references one of these blobs either commits first (and is seen below) or
    # waits and then finds the blob gone.
    list(Blob.objects.select_for_update().filter(pk__in=blob_ids).order_by("pk").values_list("pk", flat=True))
    live = BlobAttachment.objects.filter(blob=OuterRef("pk"), message__deleted_at__isnull=True)
    orphans = Blob.objects.filter(pk__in=blob_ids).exclude(Exists(live))
    _, per_model = orphans.delete()
    return per_model.get(Blob._meta.label, 0)


def purge_abandoned(limit: int = 200) -> int:
    """Delete up to `limit` blobs past their deadline that no message references:
    uploads never completed, and completed ones never attached."""
    with transaction.atomic():
        live = BlobAttachment.objects.filter(blob=OuterRef("pk"))
        ids = list(
            Blob.objects.select_for_update(skip_locked=True)
            .filter(expires_at__lte=timezone.now())
            .exclude(Exists(live))
            .order_by("expires_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Blob.objects.filter(pk__in=ids).delete()
    return len(ids)


def purge_orphan_files(older_than: timedelta, batch: int = 500) -> int:
    """Delete stored files that no Blob or BlobChunk row names and that are older than
    `older_than`: what a crash between writing a file and committing its row left behind
    (or a rolled-back pull). Young files are skipped, their row may still be on its way."""
    storage = blob_storage()
    cutoff = timezone.now() - older_than
    removed = 0
    names = stored_names()
    while chunk := list(itertools.islice(names, batch)):
        known = _named(chunk)
        old = []
        for name in chunk:
            if name in known:
                continue
            try:
                if storage.get_modified_time(name) < cutoff:
                    old.append(name)
            except (NotImplementedError, FileNotFoundError):
                continue
        # checked again just before deleting: a row committed meanwhile keeps its file
        old = sorted(set(old) - _named(old))
        delete_files_now(old)
        removed += len(old)
    return removed


def _named(names: list[str]) -> set[str]:
    """Which of these stored files a Blob or BlobChunk row names."""
    named = set(Blob.objects.filter(storage_name__in=names).values_list("storage_name", flat=True))
    return named | set(BlobChunk.objects.filter(storage_name__in=names).values_list("storage_name", flat=True))
