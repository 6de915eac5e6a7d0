from celery import shared_task

from apps.blobs.services import purge_abandoned


@shared_task
def purge_abandoned_uploads() -> int:
    """Delete blobs past their deadline that no message references (uploads never
    completed, or completed and never sent); idempotent, in batches."""
    total = 0
    while True:
        purged = purge_abandoned()
        total += purged
        if purged == 0:
            return total
