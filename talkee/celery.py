"""The Celery app: retries, purges and (later) federation delivery run here."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "talkee.settings.dev")

app = Celery("talkee")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
