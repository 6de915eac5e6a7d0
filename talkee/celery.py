"""The Celery app: retries, purges and (later) federation delivery run here."""

import os

from celery import Celery

from apps.core.metrics import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "talkee.settings.dev")

app = Celery("talkee")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
connect_celery_signals()
