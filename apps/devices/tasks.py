from celery import shared_task

from apps.devices import sync


@shared_task
def purge_stale_sync_bundles() -> int:
    return sync.purge_stale_sync_bundles()
