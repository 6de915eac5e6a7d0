from celery import shared_task
from django.utils import timezone

from apps.accounts.models import LoginChallenge


@shared_task
def purge_expired_challenges() -> int:
    """Drop login nonces that can no longer be used."""
    deleted, _ = LoginChallenge.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
