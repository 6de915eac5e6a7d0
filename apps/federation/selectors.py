"""Reads of the federation transport's state (for /metrics and the admin)."""

from django.db.models import Count, Q

from apps.federation.models import OutboxEnvelope


def outbox_by_peer() -> dict[str, tuple[int, int]]:
    """Per destination instance: envelopes waiting to be delivered, and how many of them failed at least once."""
    rows = (
        OutboxEnvelope.objects.filter(delivered_at=None)
        .values("destination")
        .annotate(pending=Count("pk"), failing=Count("pk", filter=Q(attempts__gt=0)))
    )
    return {row["destination"]: (row["pending"], row["failing"]) for row in rows}
