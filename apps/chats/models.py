"""Chats (direct / group / channel), memberships with roles, MLS epoch bookkeeping.

The server never sees a group name: `encrypted_name` is sealed by the clients with a key
from the MLS exporter of epoch `name_epoch`.
"""

import uuid

from django.db import models

# The longest self-destruct default a chat (or a message) may have.
TTL_MAX_SECONDS = 365 * 86400


class Chat(models.Model):
    class Kind(models.TextChoices):
        DIRECT = "direct"
        GROUP = "group"
        CHANNEL = "channel"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    encrypted_name = models.BinaryField(null=True, blank=True)
    name_epoch = models.BigIntegerField(default=0)
    mls_group_id = models.BinaryField(null=True, blank=True)
    epoch = models.BigIntegerField(default=0)
    next_seq = models.BigIntegerField(default=1)
    ttl_seconds = models.PositiveIntegerField(null=True, blank=True)
    # "lowid:highid" for direct chats, so a pair has exactly one direct chat.
    direct_pair = models.CharField(max_length=64, null=True, blank=True, unique=True)
    # Federation: the instance that orders this chat (seq, epoch, membership) — the
    # creator's. Empty: this instance. `federated` once any member lives elsewhere, so a
    # purely local chat's hot paths never look for peers.
    home = models.CharField(max_length=253, blank=True, default="")
    federated = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        MEMBER = "member"

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    is_favourite = models.BooleanField(default=False)
    # Members see the chat's stream from the moment they joined, not before.
    joined_seq = models.BigIntegerField(default=0)
    joined = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chat", "user"], name="membership_unique")]
        indexes = [models.Index(fields=["user", "chat"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.chat_id} as {self.role}"

    @property
    def is_manager(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)
