"""Two or three real instances in one test: `InstanceB` (another instance's processes,
database, key and certificate on loopback), a user of it driven through its HTTP API
(`RemoteAccount`), and the scans of both databases and logs the privacy checks run."""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from blake3 import blake3
from django.conf import settings
from django.test import override_settings

from apps.federation.services import clear_delivered_bodies
from tests.conftest import (
    FEDERATION_B,
    FEDERATION_B_PORT,
    FEDERATION_B_S2S_PORT,
    FEDERATION_HOSTS,
    PASSWORD,
    ROOT,
    CeleryWorker,
    DeviceKeys,
    LiveServer,
    _wait_for_port,
    b64,
    federation_hosts_env,
    json_call,
    recovery_proof,
    stop,
)
from tests.federation.conftest import S2sListener, start_s2s
from tests.federation.pki import Pki

B = FEDERATION_B


class InstanceB:
    """Another instance (B by default; C for groups) with its own database, key and
    certificate: its client port (daphne) and its mutual-TLS s2s listener on `host`.

    Like A, it has its own Celery worker (its broker keys under a prefix of their own on the
    shared Redis): the s2s listener stores envelopes and the worker handles them and
    delivers B's outbox. The processes share a channel layer on Redis (a prefix of their
    own), so what the worker handles reaches the client server's sockets; the client server
    runs the periodic jobs."""

    def __init__(
        self,
        tmp: Path,
        a_address: str,
        pki: Pki,
        *,
        domain: str = B,
        host: str = "127.0.0.3",
        port: int = FEDERATION_B_PORT,
        s2s_port: int = FEDERATION_B_S2S_PORT,
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
        prefix = f"{settings.CACHE_KEY_PREFIX}-{self.name}"
        with redis.Redis.from_url(settings.REDIS_URL) as client:  # an earlier run's cache
            for key in client.scan_iter(f"{prefix}:*"):
                client.delete(key)
        self.env = {
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "talkee.settings.dev",
            "DEBUG": "false",
            "DATABASE_URL": self.dsn,
            "REDIS_URL": settings.REDIS_URL,
            "CACHE_KEY_PREFIX": prefix,
            "CELERY_BROKER_KEYPREFIX": f"{prefix}-broker:",
            "TALKEE_INPROCESS_JOBS": "true",
            "TALKEE_DOMAIN": domain,
            "ALLOWED_HOSTS": f"{host},{domain}",
            "TALKEE_VAR_DIR": str(tmp / f"{self.name}-var"),
            # A's s2s listener, and the other peers' (`a_address`: host:port)
            "TALKEE_FEDERATION_HOSTS": federation_hosts_env({"localhost": a_address, **(peers or {})}),
            # what its well-known document publishes: its own s2s listener
            "TALKEE_FEDERATION_URL": f"https://{host}:{s2s_port}/s2s/",
            **pki.env(domain),
            "PYTHONUNBUFFERED": "1",
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=self.env, check=True
        )
        self.port, self.s2s_port = port, s2s_port
        self.url = f"http://{host}:{port}"
        self.log_path = tmp / f"{self.name}.log"
        self.tmp = tmp
        self.process: subprocess.Popen[bytes] | None = None
        self.s2s_process: subprocess.Popen[bytes] | None = None
        self.worker = CeleryWorker(self.log_path, self.env)  # one log for B's processes (the scans read it)

    def start(self) -> None:
        self.worker.start()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "talkee.server", "--host", self.host, "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        s2s_env = {**self.env, "TALKEE_INPROCESS_JOBS": "false"}  # the client server runs them
        self.s2s_process = start_s2s(self.host, self.s2s_port, s2s_env, self.log_path)
        _wait_for_port(self.port, self.process, host=self.host)

    def stop(self) -> None:
        for process in (self.s2s_process, self.process):
            if process is not None:
                stop(process)
        self.worker.stop()

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
def instance_b(
    live_server_daphne: LiveServer,
    celery_worker_process: Path,
    instance_a_s2s: S2sListener,
    federation_pki: Pki,
    tmp_path: Path,
) -> Iterator[InstanceB]:
    """B running beside this run's instance A (its daphne, worker and s2s listener), which
    talks to B in this process too; B's database is dropped afterwards. A test module that
    uses it imports it (and, outside tests/federation/, `instance_a_s2s` too)."""
    b = InstanceB(tmp_path, instance_a_s2s.address, federation_pki)
    b.start()
    try:
        with override_settings(TALKEE_FEDERATION_HOSTS=FEDERATION_HOSTS, **federation_pki.settings("localhost")):
            yield b
    finally:
        b.stop()
        b.drop()


def wait_until(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@dataclass
class RemoteAccount:
    """A user of another instance, driven through that instance's HTTP API."""

    instance: InstanceB
    username: str
    token: str = ""
    device_id: int = 0

    @property
    def address(self) -> str:
        return f"{self.username}@{self.instance.domain}"

    @property
    def ws_url(self) -> str:
        return self.instance.url.replace("http://", "ws://")

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        return json_call(self.instance.url, method, path, body, token or self.token)

    def log_in(self, device: DeviceKeys) -> tuple[str, int]:
        status, challenge = self.call("POST", "/v1/auth/challenge", {"username": self.username})
        assert status == 200, challenge
        nonce = challenge["nonce"]
        body = {
            "username": self.username,
            "password": PASSWORD,
            "device": device.as_json(),
            "nonce": nonce,
            "signature": device.sign(nonce),
        }
        status, answer = self.call("POST", "/v1/auth/login", body, token="-")
        assert status == 200, answer
        return answer["token"], answer["device_id"]

    @classmethod
    def register(cls, instance: InstanceB, name: str) -> "RemoteAccount":
        account = cls(instance, f"{name}{uuid.uuid4().hex[:6]}")
        proof = recovery_proof(account.username, os.urandom(16))
        body = {"username": account.username, "password": PASSWORD, "recovery_hash": b64(blake3(proof).digest())}
        status, answer = account.call("POST", "/v1/accounts/register", body)
        assert status == 201, answer
        account.device = DeviceKeys()
        account.token, account.device_id = account.log_in(account.device)
        return account

    device: DeviceKeys | None = None

    def send(self, chat_id: str, ciphertext: bytes, **extra: Any) -> tuple[int, Any]:
        body = {
            "client_message_id": uuid.uuid4().hex,
            "kind": "application",
            "epoch": 0,
            "ciphertext": b64(ciphertext),
            **extra,
        }
        return self.call("POST", f"/v1/chats/{chat_id}/messages", body)

    def chat(self, chat_id: str) -> dict[str, Any] | None:
        status, chats = self.call("GET", "/v1/chats")
        assert status == 200, chats
        return next((c for c in chats if c["id"] == chat_id), None)


def start_direct_chat(alice: Any, bob: RemoteAccount) -> str:
    made = alice.client.post("/v1/chats", {"kind": "direct", "members": [bob.address]}, format="json")
    assert made.status_code == 201, made.content
    chat_id = str(made.json()["id"])
    assert sorted(m["user"] for m in made.json()["members"]) == sorted([alice.address, bob.address])
    wait_until(lambda: bob.chat(chat_id) is not None, "the chat on B")
    return chat_id


def a_database() -> str:
    """The DSN of A's (this test run's) database, for scans as raw as B's."""
    db = settings.DATABASES["default"]
    return f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def all_rows(dsn: str) -> dict[str, list[str]]:
    with psycopg.connect(dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchall()
        ]
        return {t: [r[0] for r in conn.execute(f'SELECT row_to_json(x)::text FROM "{t}" x').fetchall()] for t in tables}


def message_columns(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'talkee_messages_message'"
        ).fetchall()
    return [r[0] for r in rows]


def check_privacy(b: InstanceB, a_logs: list[Path], addresses: list[str], ciphertexts: list[bytes]) -> None:
    """Neither database pairs a sender with a message, nor keeps envelope copies of the
    ciphertext once delivered and handled; no log line names a user or a message."""

    a_dsn = a_database()

    def envelope_copies(dsn: str) -> list[str]:
        rows = all_rows(dsn)
        return [
            row
            for table in ("federation_inboxenvelope", "federation_outboxenvelope")
            for row in rows[table]
            if any(b64(c) in row for c in ciphertexts) or any(a in row for a in addresses)
        ]

    wait_until(lambda: envelope_copies(b.dsn) == [], "B's delivered envelopes emptied", timeout=45)

    def a_emptied() -> bool:
        # A's beat clears delivered bodies every 30 s; an envelope still on its way keeps its
        # body until B has it (CI once caught one in flight at the first look).
        clear_delivered_bodies()
        return envelope_copies(a_dsn) == []

    wait_until(a_emptied, "A's delivered envelopes emptied", timeout=45)
    for dsn in (a_dsn, b.dsn):
        columns = message_columns(dsn)
        assert columns and not [c for c in columns if c in ("sender", "sender_id", "user_id", "author", "device_id")]
        assert not [r for r in all_rows(dsn)["talkee_messages_message"] if any(a in r for a in addresses)]
    logs = [path.read_text(errors="replace") for path in [*a_logs, b.log_path]]
    for log in logs:
        assert not [line for line in log.splitlines() if any(a in line for a in addresses)]
        assert not [line for line in log.splitlines() if any(b64(c)[:24] in line for c in ciphertexts)]


def chat_history(account: Any, chat_id: str) -> dict[int, dict[str, Any]]:
    """seq → message, as the user's instance shows it (alice: A in process; bob: B's API)."""
    if isinstance(account, RemoteAccount):
        status, page = account.call("GET", f"/v1/chats/{chat_id}/messages?limit=50")
        assert status == 200, page
    else:
        page = account.client.get(f"/v1/chats/{chat_id}/messages?limit=50").json()
    return {m["seq"]: m for m in page["messages"]}
