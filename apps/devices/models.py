"""Devices (one per browser install), their KeyPackage pools, revoked-key tombstones, and the
users' identity keys and device certificates (made by clients; stored and served, never made here)."""

from datetime import datetime

from django.db import models
from django.utils import timezone


def current_hour() -> datetime:
    """Devices are "last seen" to the hour: the row must not keep a trail of when someone uses the app."""
    return timezone.now().replace(minute=0, second=0, microsecond=0)


class Device(models.Model):
    """One install of the client: its own keys, sessions and MLS leaf `user@domain:device_id`."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="devices")
    client_device_id = models.UUIDField()
    ed25519_pub = models.BinaryField(max_length=32)
    x25519_pub = models.BinaryField(max_length=32)
    label = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(default=current_hour)
    # The device certificate (web/src/identity/certificate.ts): signed by the user's identity
    # key on a client; null until one of the user's devices (or the recovery phrase) certifies it.
    certificate = models.BinaryField(max_length=1024, null=True, blank=True)
    # The user's identity key sealed (crypto_box_seal) to this device's X25519 key by the
    # device that approved it: only this device can open it; served to this device alone.
    sealed_identity = models.BinaryField(max_length=512, null=True, blank=True)
    # Signed out from another of the user's devices: it signs in again only when its person
    # types the password (`interactive` login), not with the one an open tab still holds.
    signed_out = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client_device_id"], name="device_unique_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.client_device_id}"


class KeyPackage(models.Model):
    """An opaque MLS KeyPackage; handed out once, then deleted."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="keypackages")
    data = models.BinaryField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"KeyPackage {self.pk} of device {self.device_id}"


class RevokedDevice(models.Model):
    """Remembers revoked device keys so a revoked install can never come back as itself."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    client_device_id = models.UUIDField()
    ed25519_pub = models.BinaryField(max_length=32, unique=True)
    revoked_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"revoked {self.client_device_id}"


class IdentityKey(models.Model):
    """A user's identity public key (Ed25519). The private half exists only on the user's
    devices (derived from the recovery phrase); the server stores and serves this key."""

    user = models.OneToOneField("accounts.User", on_delete=models.CASCADE, related_name="identity_key")
    public_key = models.BinaryField(max_length=32)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"identity key of {self.user_id}"


class KeyLogEntry(models.Model):
    """One change of a user's identity key or device certificates, in an append-only log
    (apps/devices/keylog.py): each entry's hash chains the one before, and the instance
    signs the head. Clients remember the head they saw and refuse a log that is not an
    extension of it, or that does not list the keys the server hands out."""

    class Kind(models.IntegerChoices):
        IDENTITY = 1, "identity"
        CERTIFIED = 2, "certified"
        REVOKED = 3, "revoked"

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="key_log")
    index = models.PositiveIntegerField()
    kind = models.PositiveSmallIntegerField(choices=Kind.choices)
    # identity: the 32-byte key; certified: the certificate; revoked: the client device id (UTF-8).
    body = models.BinaryField(max_length=1024)
    entry_hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "index"], name="keylog_unique_index")]

    def __str__(self) -> str:
        return f"key log {self.user_id}#{self.index}"
