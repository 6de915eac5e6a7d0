from datetime import timedelta

from celery import shared_task
from django.conf import settings

from apps.blobs.services import purge_abandoned, purge_orphan_files


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


@shared_task
def purge_orphan_blob_files() -> int:
    """Delete stored files no row names (left by a crash between file and row)."""
    return purge_orphan_files(timedelta(seconds=settings.TALKEE_BLOB_ORPHAN_AGE_SECONDS))
