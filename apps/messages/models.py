"""Store-and-forward rows. Every row that a device must see carries a stream position
(`pos`): one global, increasing counter (a sequence on PostgreSQL, writers never wait on
each other; gaps where a writer rolled back), drawn as the last step of the writing
transaction. Readers stop below the lowest position still in flight (stream.py), so a
device's cursor never passes a row that may still commit. A device's cursor is the
highest position it has acknowledged; resume = every visible row with pos > cursor.

Encrypted rows never name their sender (sealed sender): there is no sender column.
"""

from django.db import models


class StreamPosition(models.Model):
    """The counter row (id=1) behind every `pos` on SQLite (one writer at a time);
    PostgreSQL uses the sequence `talkee_stream_pos` instead (stream.py)."""

    pos = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"stream at {self.pos}"


class Message(models.Model):
    class Kind(models.TextChoices):
        APPLICATION = "application"
        COMMIT = "commit"
        PROPOSAL = "proposal"

    id = models.BigAutoField(primary_key=True)
    chat = models.ForeignKey("chats.Chat", on_delete=models.CASCADE, related_name="messages")
    seq = models.BigIntegerField()
    # Position of the row's latest change (send, edit, delete, expiry).
    pos = models.BigIntegerField()
    client_message_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    epoch = models.BigIntegerField()
    ciphertext = models.BinaryField(null=True)
    edit_hash = models.BinaryField(max_length=32, null=True)
    expires_at = models.DateTimeField(null=True)
    burn_on_read = models.BooleanField(default=False)
    edited_at = models.DateTimeField(null=True)
    deleted_at = models.DateTimeField(null=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chat", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(fields=["chat", "client_message_id"], name="message_client_id_unique"),
        ]
        indexes = [
            models.Index(fields=["chat", "pos"], name="message_chat_pos"),
            models.Index(fields=["expires_at"], name="message_expiry", condition=models.Q(deleted_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"message {self.id} ({self.chat_id} #{self.seq})"


class Reaction(models.Model):
    """An opaque reaction sealed under the chat's exporter key; removable with its secret."""

    id = models.BigAutoField(primary_key=True)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    chat = models.ForeignKey("chats.Chat", on_delete=models.CASCADE, related_name="+")
    pos = models.BigIntegerField()
    ciphertext = models.BinaryField(null=True)
    remove_hash = models.BinaryField(max_length=32)
    # In a chat homed on another instance: the reaction's id at the home (which orders
    # reactions like messages); null for a reaction this instance ordered itself.
    home_id = models.BigIntegerField(null=True)
    deleted_at = models.DateTimeField(null=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["chat", "pos"], name="reaction_chat_pos")]
        constraints = [models.UniqueConstraint(fields=["chat", "home_id"], name="reaction_home_id_unique")]

    def __str__(self) -> str:
        return f"reaction {self.id} on {self.message_id}"


class DeviceInbox(models.Model):
    """Rows addressed to one device: MLS Welcomes, chat membership notices, device-list
    notices (a peer's device added or revoked) and history-sync bundles."""

    class Kind(models.TextChoices):
        WELCOME = "welcome"
        CHAT = "chat"
        DEVICE = "device"
        SYNC_BUNDLE = "sync_bundle"

    id = models.BigAutoField(primary_key=True)
    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, related_name="inbox")
    pos = models.BigIntegerField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    chat = models.ForeignKey("chats.Chat", on_delete=models.CASCADE, null=True, related_name="+")
    payload = models.BinaryField(null=True)
    data = models.JSONField(null=True)
    # Sync bundles only: which of the user's devices sealed it (the server sees no more).
    from_device = models.ForeignKey("devices.Device", on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["device", "pos"], name="inbox_device_pos"),
            models.Index(fields=["kind", "created"], name="inbox_kind_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for device {self.device_id}"


class DeviceCursor(models.Model):
    """What a device has acknowledged, and the floor it may never replay below
    (the stream position when the device was created)."""

    device = models.OneToOneField("devices.Device", on_delete=models.CASCADE, primary_key=True, related_name="cursor")
    pos = models.BigIntegerField(default=0)
    floor = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"cursor {self.pos} of device {self.device_id}"
