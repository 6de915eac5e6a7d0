"""Reads for blobs. Membership of the blob's chat is the only key: a blob in a chat the
user is not in (any more) does not exist for them."""

import uuid

from django.db.models import Exists, OuterRef, Sum

from apps.blobs.models import Blob, BlobChunk
from apps.chats.models import Membership


def blob_for_member(blob_id: uuid.UUID | str, user_id: int) -> Blob | None:
    member = Membership.objects.filter(chat_id=OuterRef("chat_id"), user_id=user_id)
    return Blob.objects.filter(pk=blob_id).filter(Exists(member)).first()


def received_chunks(blob: Blob) -> list[int]:
    """Indexes of the chunks the server holds (all of them once the upload is complete)."""
    if blob.is_complete:
        return list(range(blob.chunk_count))
    return list(BlobChunk.objects.filter(blob=blob).order_by("index").values_list("index", flat=True))


def blob_for_member_of_home_chat(blob_id: uuid.UUID | str, address: str) -> Blob | None:
    """A file stored here, in a chat homed here, of which `address` (a peer's user) is a member."""
    member = Membership.objects.filter(chat_id=OuterRef("chat_id"), user__username=address)
    return Blob.objects.filter(pk=blob_id, at_home=False, chat__home="").filter(Exists(member)).first()


def upload_for_home(blob_id: uuid.UUID | str, home: str) -> Blob | None:
    """A file uploaded here for a chat homed at `home` (which pulls it)."""
    return Blob.objects.filter(pk=blob_id, at_home=False, chat__home=home).first()


def stored_bytes() -> int:
    """Bytes of encrypted files this instance holds (complete blobs with their bytes here)."""
    return int(Blob.objects.exclude(storage_name="").aggregate(total=Sum("size"))["total"] or 0)
