from datetime import timedelta

from celery import shared_task

from apps.federation import services


@shared_task(acks_late=True)
def handle_inbox(ids: list[int]) -> int:
    return services.handle_inbox_rows(ids)


@shared_task(acks_late=True)
def deliver_outbox(destination: str) -> int:
    """Deliver everything pending for one destination, batch after batch."""
    total = 0
    while True:
        sent = services.deliver_to(destination)
        total += sent
        if sent == 0:
            return total


@shared_task
def sweep_outbox() -> int:
    """Re-queue destinations whose delivery is due (after a backoff, or a task that died)."""
    destinations = services.due_destinations()
    for destination in destinations:
        deliver_outbox.delay(destination)
    return len(destinations)


@shared_task
def sweep_inbox() -> int:
    """Handle envelopes whose handler task never ran or died (acks_late re-runs most)."""
    origins = services.pending_origins(timedelta(seconds=30))
    for origin in origins:
        services.handle_pending(origin)
    return len(origins)


@shared_task
def clear_delivered_bodies() -> int:
    """A delivered envelope's body is the peer's now: keep no copy of its ciphertext."""
    return services.clear_delivered_bodies()
