"""Encrypted file blobs: opaque bytes the server stores, serves and forgets.

What a row knows: the chat whose members may read it, the padded (bucket) size, when it
was created, and until when it may stay unreferenced. It never knows a file name, a
type or who uploaded it (sealed sender): `name` and `content_type` are the same
constants for every row, and the per-user upload allowance is a counter that names no
blob. Storage paths are random and say nothing either.
"""

import uuid

from django.db import models


class Blob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    chat = models.ForeignKey("chats.Chat", on_delete=models.CASCADE, related_name="+")
    # Declared encrypted size: one of sizes.ACCEPTED_SIZES, so only the bucket is known.
    size = models.BigIntegerField()
    # Fixed at creation so a changed setting never breaks an upload in progress.
    chunk_size = models.IntegerField()
    name = models.CharField(max_length=16, default="encrypted", editable=False)
    content_type = models.CharField(max_length=32, default="application/octet-stream", editable=False)
    # Where the assembled bytes are (a random storage name); empty until complete.
    storage_name = models.CharField(max_length=128, blank=True, default="")
    # In a chat spanning instances, a file is stored at the chat's home (which orders the
    # chat and owns its member list; it pulls a file a member uploaded on their own
    # instance, which keeps its copy too); the other instances keep this stub (no bytes)
    # and fetch ranges from the home for their members, signed. The stub names no
    # instance but the chat's home, so it says nothing about who sent it.
    at_home = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Deadline to finish the upload and attach it to a message; null once a message
    # references it (from then on it lives exactly as long as its messages).
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["expires_at"], name="blob_expiry", condition=models.Q(expires_at__isnull=False))
        ]

    def __str__(self) -> str:
        return f"blob {self.id}"

    @property
    def chunk_count(self) -> int:
        return -(-self.size // self.chunk_size)

    @property
    def is_complete(self) -> bool:
        return self.completed_at is not None

    def chunk_length(self, index: int) -> int:
        """Bytes chunk `index` must have: all full except possibly the last."""
        return min(self.chunk_size, self.size - index * self.chunk_size)


class BlobChunk(models.Model):
    """One received upload chunk, on storage under a random name until completion."""

    blob = models.ForeignKey(Blob, on_delete=models.CASCADE, related_name="chunks")
    index = models.IntegerField()
    storage_name = models.CharField(max_length=128)
    length = models.IntegerField()
    # BLAKE3 of the chunk's bytes: tells an identical re-send from a conflicting one and
    # catches a part damaged on disk before it is assembled.
    digest = models.BinaryField(max_length=32)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["blob", "index"], name="blob_chunk_unique")]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.blob_id}"


class BlobAttachment(models.Model):
    """A message that references a blob; a blob is deleted when its last one goes."""

    blob = models.ForeignKey(Blob, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey("talkee_messages.Message", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "blob"], name="blob_attachment_unique")]

    def __str__(self) -> str:
        return f"{self.blob_id} in message {self.message_id}"


class UploadAllowance(models.Model):
    """Bytes a user has reserved for uploads in the current quota window.

    Deliberately not linked to any blob: it is charged when an upload starts and never
    refunded, and `window` is a window number (not a timestamp), so it cannot be matched
    to a blob's `created` time."""

    user = models.OneToOneField("accounts.User", on_delete=models.CASCADE, primary_key=True, related_name="+")
    window = models.BigIntegerField(default=0)
    used = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"upload allowance of {self.user_id}"
