"""Instance-level endpoints: health."""

import asyncio
import contextlib
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from talkee.celery import app as celery_app

logger = logging.getLogger("talkee.health")


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return bool(cursor.fetchone() == (1,))
    except Exception:
        logger.warning("health: database unreachable")
        return False


async def _channel_layer_roundtrip() -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.ping"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=2.0)
    # Layers forget a channel only when a receive on it is cancelled (there is no
    # delete_channel()); without this every /healthz left one more subscription in the
    # server's layer for good.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=0.01)
    return bool(message.get("type") == "health.ping")


def _channel_layer_ok() -> bool:
    try:
        return bool(async_to_sync(_channel_layer_roundtrip)())
    except Exception:
        logger.warning("health: channel layer unreachable")
        return False


def _broker_state() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process"
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception:
        logger.warning("health: broker unreachable")
        return "down"


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with the state of database, channel layer and broker; 503 if one is down."""
    state = {
        "database": "ok" if _database_ok() else "down",
        "channel_layer": "ok" if _channel_layer_ok() else "down",
        "broker": _broker_state(),
    }
    healthy = all(value != "down" for value in state.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", **state}, status=200 if healthy else 503)
