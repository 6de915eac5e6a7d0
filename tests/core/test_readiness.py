"""/readyz: may a load balancer send this process traffic? Each check against a real broken dependency.

Every case runs a real server process (talkee.server, daphne) with its own settings, so a
dependency is broken the way an operator would meet it: Redis at an address nothing
listens on, a database nobody migrated, a database server that is gone, no instance key.
"""

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import LiveServer, start_daphne, stop
from tests.support.api import assert_error_shape
from tests.support.database import empty_database

pytestmark = pytest.mark.django_db


def _get(server: LiveServer, path: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{server.url}{path}", timeout=15) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """A key directory holding an instance key, as `manage.py ensure_instance_key` leaves it."""
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o700)
    key = directory / "instance_ed25519"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    return directory


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound without listen, so nobody else takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, django_db_blocker: Any) -> Iterator[Any]:
    started: list[LiveServer] = []

    def _start(env: dict[str, str]) -> LiveServer:
        live = start_daphne(tmp_path, name="readyz", extra_env=env)
        started.append(live)
        return live

    yield _start
    for live in started:
        stop(live.process)


def _assert_not_ready(status: int, headers: dict[str, str], body: dict[str, Any], failed: list[str]) -> dict[str, Any]:
    assert status == 503, body
    assert headers["Content-Type"].startswith("application/json")
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == "not_ready"
    assert error["failed"] == failed
    return error


def test_ready_against_the_real_postgres_redis_and_key(server: Any, key_dir: Path) -> None:
    live = server({"TALKEE_KEY_DIR": str(key_dir)})
    status, headers, body = _get(live, "/readyz")
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    assert body == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "migrations": "ok", "instance_key": "ok"},
    }


def test_redis_unreachable_is_a_503_naming_redis_and_nothing_secret(
    server: Any, key_dir: Path, closed_port: int
) -> None:
    redis_url = f"redis://:hunter2secret@127.0.0.1:{closed_port}/3"
    live = server({"TALKEE_KEY_DIR": str(key_dir), "REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url})
    status, headers, body = _get(live, "/readyz")
    error = _assert_not_ready(status, headers, body, ["redis"])
    assert error["checks"] == {"database": "ok", "redis": "down", "migrations": "ok", "instance_key": "ok"}
    text = json.dumps(body)
    for secret in ("hunter2secret", str(closed_port), "127.0.0.1", str(key_dir), settings.DATABASES["default"]["NAME"]):
        assert secret not in text


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty PostgreSQL database on the same server: nobody ran `migrate` on it."""
    with empty_database("fresh") as url:
        yield url


def test_unapplied_migrations_on_a_fresh_database_are_a_503(server: Any, key_dir: Path, fresh_database: str) -> None:
    live = server({"TALKEE_KEY_DIR": str(key_dir), "DATABASE_URL": fresh_database})
    status, headers, body = _get(live, "/readyz")
    error = _assert_not_ready(status, headers, body, ["migrations"])
    assert error["checks"] == {"database": "ok", "redis": "ok", "migrations": "pending", "instance_key": "ok"}
    assert "migrate" in error["message"]
    assert fresh_database.rsplit("/", 1)[1] not in json.dumps(body)


def test_database_unreachable_is_a_503_naming_the_database(server: Any, key_dir: Path, closed_port: int) -> None:
    live = server({"TALKEE_KEY_DIR": str(key_dir), "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port}/x"})
    status, headers, body = _get(live, "/readyz")
    error = _assert_not_ready(status, headers, body, ["database"])
    assert error["checks"] == {"database": "down", "redis": "ok", "migrations": "unknown", "instance_key": "ok"}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that takes connections and never answers, as a database server mid-restart can."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def test_a_database_that_never_answers_is_a_503_within_the_probe_timeout(
    server: Any, key_dir: Path, silent_port: int
) -> None:
    live = server({"TALKEE_KEY_DIR": str(key_dir), "DATABASE_URL": f"postgres://postgres@127.0.0.1:{silent_port}/x"})
    # The compose health check gives /readyz 5 s; a probe that hangs longer reads as "no answer",
    # not as "the database is down".
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"{live.url}/readyz", timeout=5)
    body = json.loads(answer.value.read())
    error = _assert_not_ready(answer.value.code, dict(answer.value.headers), body, ["database"])
    assert error["checks"]["database"] == "down"


def test_missing_instance_key_is_a_503(server: Any, tmp_path: Path) -> None:
    empty = tmp_path / "no-keys"
    empty.mkdir()
    live = server({"TALKEE_KEY_DIR": str(empty)})
    status, headers, body = _get(live, "/readyz")
    error = _assert_not_ready(status, headers, body, ["instance_key"])
    assert error["checks"]["instance_key"] == "missing"
    assert str(empty) not in json.dumps(body)
    # Readiness only looks: it does not make a key behind the operator's back.
    assert not (empty / "instance_ed25519").exists()


def test_readyz_answers_head_and_refuses_post_in_the_error_shape() -> None:
    assert Client().head("/readyz").status_code in (200, 503)
    assert_error_shape(Client().post("/readyz"), 405)
