"""Federation state in rows (the rows are the truth; workers only advance them).

- Peer: another instance, with its Ed25519 key pinned on first contact (TOFU).
- OutboxEnvelope: one row per (destination, envelope) until the peer accepted it; a batch
  is leased to one worker while its request is in flight (no lock is held across it).
- InboxEnvelope: what a peer sent us, unique per (origin, txn_id), so a retry or a
  replay is stored once and handled once.
"""

from django.db import models


class Peer(models.Model):
    domain = models.CharField(max_length=253, unique=True)
    ed25519_pub = models.BinaryField(max_length=32)
    pinned_at = models.DateTimeField(auto_now_add=True)
    blocked = models.BooleanField(default=False, help_text="A blocked peer's requests are refused.")

    def __str__(self) -> str:
        return self.domain


class OutboxEnvelope(models.Model):
    destination = models.CharField(max_length=253, db_index=True)
    txn_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=32)
    body = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, db_index=True)
    delivered_at = models.DateTimeField(null=True)
    last_error = models.CharField(max_length=200, blank=True)
    # Claimed by a worker whose request to the peer is in flight (no transaction is open
    # meanwhile); if that worker dies, the lease runs out and the sweeper sends again. On
    # PostgreSQL the claiming worker's database session (its backend pid) is kept too: a
    # worker that died takes its session with it, and its lease ends at once.
    leased_until = models.DateTimeField(null=True)
    leased_by = models.IntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["destination", "delivered_at", "id"], name="outbox_pending")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.destination} ({self.txn_id})"


class InboxEnvelope(models.Model):
    origin = models.CharField(max_length=253)
    txn_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=32)
    body = models.JSONField()
    received = models.DateTimeField(auto_now_add=True)
    handled_at = models.DateTimeField(null=True)
    # Why a handler refused the envelope (it stays handled: a refusal is final).
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["origin", "txn_id"], name="inbox_unique_txn")]
        indexes = [
            models.Index(fields=["origin", "id"], name="inbox_pending", condition=models.Q(handled_at__isnull=True))
        ]

    def __str__(self) -> str:
        return f"{self.kind} from {self.origin} ({self.txn_id})"


class SeenRequest(models.Model):
    """Every signed request's (origin, txn_id), kept past the timestamp window, so a
    captured request cannot be replayed."""

    origin = models.CharField(max_length=253)
    txn_id = models.CharField(max_length=64)
    seen = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["origin", "txn_id"], name="seen_request_unique")]

    def __str__(self) -> str:
        return f"{self.origin}/{self.txn_id}"
