from celery import shared_task

from apps.messages.services import purge_expired


@shared_task
def purge_stale_ciphertext() -> int:
    """Null the ciphertext of expired messages (burnt ones are nulled when burnt)."""
    total = 0
    while True:
        purged = purge_expired()
        total += purged
        if purged == 0:
            return total
