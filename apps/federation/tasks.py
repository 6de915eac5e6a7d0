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
