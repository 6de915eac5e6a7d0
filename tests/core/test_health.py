"""/healthz tells an operator (or a load balancer) whether the services behind Talkee answer."""

import asyncio
import socket
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


def test_healthy_against_the_real_postgres_redis_and_broker() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok", "broker": "ok"}


def test_healthz_over_the_real_asgi_server(live_server_daphne: Any) -> None:
    with urllib.request.urlopen(f"{live_server_daphne.url}/healthz", timeout=10) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("application/json")
        assert b'"channel_layer": "ok"' in answer.read()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound without listen, so nobody else takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "backend", ["channels_redis.pubsub.RedisPubSubChannelLayer", "channels_redis.core.RedisChannelLayer"]
)
def test_channel_layer_down_is_a_quick_503_json(closed_port: int, backend: str) -> None:
    layers = {"default": {"BACKEND": backend, "CONFIG": {"hosts": [f"redis://127.0.0.1:{closed_port}/0"]}}}
    started = time.monotonic()
    with override_settings(CHANNEL_LAYERS=layers):
        response = Client().get("/healthz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"status": "degraded", "database": "ok", "channel_layer": "down", "broker": "ok"}
    assert elapsed < 5.0
    # And the real layer is back once the override is gone.
    assert Client().get("/healthz").status_code == 200


def test_broker_down_is_a_quick_503_json(closed_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from talkee.celery import app as celery_app

    assert celery_app.conf.changes.get("broker_write_url") is None, "the write URL follows broker_url"
    monkeypatch.setattr(celery_app.conf, "broker_url", f"redis://127.0.0.1:{closed_port}/0")
    started = time.monotonic()
    response = Client().get("/healthz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.content
    assert response.json() == {"status": "degraded", "database": "ok", "channel_layer": "ok", "broker": "down"}
    assert elapsed < 8.0
    monkeypatch.undo()
    assert Client().get("/healthz").json()["broker"] == "ok"


def _channels_held(layer: Any) -> int:
    """How many receive channels the layer instance keeps state for (each backend's own book)."""
    if hasattr(layer, "_get_layer"):  # channels_redis pub/sub: one inner layer per event loop
        return len(layer._get_layer().channels)
    return len(layer.channels)  # in-memory


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "backend",
    # The two layers settings.base configures (with and without REDIS_URL).
    ["channels_redis.pubsub.RedisPubSubChannelLayer", "channels.layers.InMemoryChannelLayer"],
)
def test_repeated_health_checks_leave_nothing_behind_in_the_servers_layer(backend: str) -> None:
    """Like a load balancer polling a long-running server: many checks on one event loop."""
    config = {"hosts": ["redis://127.0.0.1:6379/14"]} if backend.startswith("channels_redis") else {}
    layers = {"default": {"BACKEND": backend, "CONFIG": config}}

    async def poll(times: int) -> int:
        layer = get_channel_layer()
        client = Client()
        try:
            for _ in range(times):
                response = await sync_to_async(client.get)("/healthz")
                assert response.status_code == 200, response.content
                assert response.json()["channel_layer"] == "ok"
        finally:
            await sync_to_async(connections.close_all)()  # the worker thread's, or teardown waits on it
        return _channels_held(layer)

    with override_settings(CHANNEL_LAYERS=layers):
        assert asyncio.run(poll(20)) == 0


def test_head_answers_like_get_without_a_body() -> None:
    """HTTP requires HEAD wherever GET works; some monitors probe with it."""
    response = Client().head("/healthz")
    assert response.status_code == 200
    assert response.content == b""
