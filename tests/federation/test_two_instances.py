"""Two real instances on loopback: A (this test's database, served by a live daphne, with
the real Celery worker delivering its outbox) and B (`b.test`: its own daphne on
127.0.0.3 with its own PostgreSQL database and key). A's outbox reaches B signed; B pins
A's key on first contact; B is stopped while A keeps queueing, restarted, and everything
arrives once, in order."""

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from apps.federation.models import OutboxEnvelope
from apps.federation.services import deliver_to, queue_envelope
from apps.federation.tasks import sweep_outbox
from tests.conftest import FEDERATION_B, FEDERATION_B_PORT, ROOT, LiveServer, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

B = FEDERATION_B


class InstanceB:
    """Another instance (B by default; C for groups) with its own database and key."""

    def __init__(
        self,
        tmp: Path,
        a_url: str,
        *,
        domain: str = B,
        host: str = "127.0.0.3",
        port: int = FEDERATION_B_PORT,
        peers: dict[str, str] | None = None,
    ) -> None:
        db = settings.DATABASES["default"]
        self.name = domain.split(".", 1)[0]
        self.domain, self.host = domain, host
        self.dbname = f"{db['NAME']}_{self.name}"
        self.admin_dsn = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/postgres"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
        self.dsn = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{self.dbname}"
        a_host = a_url.removeprefix("http://")
        self.env = {
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "talkee.settings.dev",
            "DEBUG": "false",
            "DATABASE_URL": self.dsn,
            "TALKEE_DOMAIN": domain,
            "ALLOWED_HOSTS": host,
            "TALKEE_VAR_DIR": str(tmp / f"{self.name}-var"),
            "TALKEE_FEDERATION_HOSTS": ",".join(f"{d}={h}" for d, h in {"localhost": a_host, **(peers or {})}.items()),
            "TALKEE_FEDERATION_SCHEME": "http",
            "PYTHONUNBUFFERED": "1",
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=self.env, check=True
        )
        self.port = port
        self.url = f"http://{host}:{port}"
        self.log_path = tmp / f"{self.name}.log"
        self.tmp = tmp
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "talkee.server", "--host", self.host, "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"instance {self.name} did not start")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def inbox(self) -> list[tuple[str, str, int | None]]:
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                "SELECT origin, kind, (body->>'n')::int FROM federation_inboxenvelope ORDER BY id"
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def pinned(self) -> list[str]:
        with psycopg.connect(self.dsn) as conn:
            return [r[0] for r in conn.execute("SELECT domain FROM federation_peer").fetchall()]

    def drop(self) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')


@pytest.fixture
def instance_b(live_server_daphne: LiveServer, celery_worker_process: Path, tmp_path: Path) -> Iterator[InstanceB]:
    b = InstanceB(tmp_path, live_server_daphne.url)
    b.start()
    try:
        with override_settings(TALKEE_FEDERATION_HOSTS={B: f"127.0.0.3:{b.port}"}, TALKEE_FEDERATION_SCHEME="http"):
            yield b
    finally:
        b.stop()
        b.drop()


def queue(start: int, count: int) -> None:
    with transaction.atomic():
        for n in range(start, start + count):
            queue_envelope(B, "ping", {"n": n})


def wait_until(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_delivery_between_two_instances_survives_an_outage(instance_b: InstanceB) -> None:
    queue(0, 10)  # the worker delivers after commit
    wait_until(lambda: len(instance_b.inbox()) == 10, "the first ten envelopes on B")
    assert instance_b.pinned() == ["localhost"], "B pinned A's key on first contact"
    assert instance_b.inbox() == [("localhost", "ping", n) for n in range(10)]

    instance_b.stop()
    queue(10, 30)
    wait_until(
        lambda: OutboxEnvelope.objects.filter(attempts__gte=1, delivered_at=None).count() == 30,
        "a failed attempt while B is down",
    )
    assert all(r.last_error.startswith("unreachable") for r in OutboxEnvelope.objects.filter(delivered_at=None))
    instance_b.start()
    OutboxEnvelope.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))  # the backoff passed
    sweep_outbox.delay()  # what beat does every few seconds
    wait_until(lambda: not OutboxEnvelope.objects.filter(delivered_at=None).exists(), "catch-up")
    assert instance_b.inbox() == [("localhost", "ping", n) for n in range(40)]
    # B logged no failure of its own (a request cut off by its own shutdown is not one)
    b_errors = [
        line
        for line in (instance_b.tmp / "b.log").read_text().splitlines()
        if '"level": "ERROR"' in line and "RequestAborted" not in line
    ]
    assert b_errors == []


def test_instance_b_refuses_a_key_change_of_a(instance_b: InstanceB, tmp_path: Path) -> None:
    queue(0, 1)
    wait_until(lambda: len(instance_b.inbox()) == 1, "the first envelope on B")
    # A's key is replaced (a reinstall that lost var/keys, or an impostor): B refuses it
    from apps.federation.instance_key import instance_signing_key

    instance_signing_key.cache_clear()
    try:
        with override_settings(TALKEE_KEY_DIR=tmp_path / "new-keys"):
            # written straight to the outbox and sent from here, signed with the new key
            OutboxEnvelope.objects.create(
                destination=B, txn_id="txn-newkey-01", kind="ping", body={"n": 1}, next_attempt_at=timezone.now()
            )
            assert deliver_to(B) == 0
    finally:
        instance_signing_key.cache_clear()
    row = OutboxEnvelope.objects.get(delivered_at=None)
    assert "401" in row.last_error and "invalid signature" in row.last_error
    assert instance_b.inbox() == [("localhost", "ping", 0)]
    assert json.dumps(instance_b.pinned()) == '["localhost"]'
