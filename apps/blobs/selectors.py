"""Reads for blobs. Membership of the blob's chat is the only key: a blob in a chat the
user is not in (any more) does not exist for them."""

import uuid

from django.db.models import Exists, OuterRef

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
