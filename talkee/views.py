"""Instance-level endpoints: /healthz (alive, and its services answer) and /readyz (ready to serve)."""

import asyncio
import contextlib
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from apps.core.errors import error_body
from apps.federation.instance_key import key_path
from talkee.celery import app as celery_app

logger = logging.getLogger("talkee.health")


# Every probe answers within about this long, so a probe's own timeout (compose: 5 s) sees a
# 503 naming the dependency rather than a hung request.
READY_TIMEOUT_SECONDS = 2.0


def _database_ok() -> bool:
    """The database answers `SELECT 1` within READY_TIMEOUT_SECONDS.

    PostgreSQL is asked over a connection of its own with a connect timeout: the request
    pool waits up to its own timeout (10 s) for a connection while the server restarts,
    which is what a request should do, but a probe must answer sooner.
    """
    try:
        if connection.vendor == "postgresql":
            import psycopg

            params = connection.get_connection_params()
            params["connect_timeout"] = max(1, int(READY_TIMEOUT_SECONDS))
            with psycopg.connect(**params) as direct, direct.cursor() as cursor:
                cursor.execute("SELECT 1")
                return bool(cursor.fetchone() == (1,))
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


def _redis_ready() -> str:
    """Redis: ok, down, or "not configured" (the embedded default has no Redis)."""
    if not settings.REDIS_URL:
        return "not configured"
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=READY_TIMEOUT_SECONDS, socket_connect_timeout=READY_TIMEOUT_SECONDS
        )
        try:
            return "ok" if client.ping() else "down"
        finally:
            client.close()
    except Exception:
        logger.warning("readiness: redis unreachable")
        return "down"


def _migrations_ready() -> str:
    """Migrations: ok when every migration the code ships is applied, "pending" otherwise."""
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:
        logger.warning("readiness: migration state unreadable")
        return "down"
    return "ok" if not plan else "pending"


def _instance_key_ready() -> str:
    """The instance's signing key is on disk (`manage.py ensure_instance_key` at start), 32 bytes."""
    try:
        return "ok" if key_path().stat().st_size == 32 else "invalid"
    except OSError:
        return "missing"


_READY_MESSAGES = {
    "database": "The database does not answer.",
    "redis": "Redis does not answer.",
    "migrations": "Migrations are not applied (run `manage.py migrate`).",
    "instance_key": "The instance key is missing or unreadable (run `manage.py ensure_instance_key`).",
}


@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when this process can serve: database, Redis (when configured), migrations, instance key.

    Otherwise 503 in the API's error shape, naming each check that failed (never an address,
    a password or a path).
    """
    database = "ok" if _database_ok() else "down"
    checks = {
        "database": database,
        "redis": _redis_ready(),
        # Without a database there is no migration table to read.
        "migrations": _migrations_ready() if database == "ok" else "unknown",
        "instance_key": _instance_key_ready(),
    }
    failed = [name for name, value in checks.items() if value not in ("ok", "not configured", "unknown")]
    if not failed:
        return JsonResponse({"status": "ready", "checks": checks})
    message = " ".join(_READY_MESSAGES[name] for name in failed)
    body = error_body("not_ready", message, failed=failed, checks=checks)
    return JsonResponse(body, status=503)
