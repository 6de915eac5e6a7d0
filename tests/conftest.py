"""Shared fixtures: API clients with real device keys, a live daphne and a real Celery worker.

Everything talks to the real PostgreSQL and Redis configured in talkee.settings.test.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from django.conf import settings
from django.core.cache import cache
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from rest_framework.test import APIClient

from tests.federation.pki import Pki, make_pki
from tests.push.standin import PushServiceStandIn

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"

# One blob directory for the session, shared by this process and every live process it
# starts (daphne, the s2s listener, the Celery worker inherit TALKEE_BLOB_DIR).
BLOB_DIR = Path(tempfile.mkdtemp(prefix="talkee-test-blobs-"))
os.environ["TALKEE_BLOB_DIR"] = str(BLOB_DIR)


def use_blob_dir(settings: Any, directory: Path) -> None:
    """Point this process's blob storage at `directory` for one test."""
    options = {**settings.STORAGES["blobs"]["OPTIONS"], "location": str(directory)}
    settings.STORAGES = {**settings.STORAGES, "blobs": {**settings.STORAGES["blobs"], "OPTIONS": options}}


@pytest.fixture
def shared_blob_dir(settings: Any) -> Path:
    """For a test that writes files in process which the live processes read (or back)."""
    use_blob_dir(settings, BLOB_DIR)
    return BLOB_DIR


@pytest.fixture(scope="session", autouse=True)
def _remove_blob_dir() -> Iterator[None]:
    yield
    shutil.rmtree(BLOB_DIR, ignore_errors=True)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def recovery_proof(username: str, entropy: bytes) -> bytes:
    """The documented derivation (README, "Recovery"): what the client computes."""
    return blake3(b"talkee-recovery-proof-v1\x00" + username.encode() + b"\x00" + entropy).digest()


def fake_keypackage(body: bytes | None = None) -> bytes:
    """Opaque bytes with the 0xF00C KeyPackage header the server checks; the body is random."""
    return bytes.fromhex("000100050001f00c") + (body if body is not None else os.urandom(3400))


@dataclass
class DeviceKeys:
    client_device_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    signing: SigningKey = field(default_factory=SigningKey.generate)
    box: PrivateKey = field(default_factory=PrivateKey.generate)
    label: str = "test browser"

    def as_json(self) -> dict[str, str]:
        return {
            "client_device_id": self.client_device_id,
            "ed25519_pub": b64(bytes(self.signing.verify_key)),
            "x25519_pub": b64(bytes(self.box.public_key)),
            "label": self.label,
        }

    def sign(self, nonce: str) -> str:
        return b64(self.signing.sign(nonce.encode()).signature)


@dataclass
class Account:
    username: str
    password: str
    entropy: bytes
    client: APIClient
    device: DeviceKeys
    token: str = ""
    device_id: int = 0

    @property
    def address(self) -> str:
        return f"{self.username}@{settings.TALKEE_DOMAIN}"


def login(client: APIClient, username: str, password: str, device: DeviceKeys) -> Any:
    nonce = client.post("/v1/auth/challenge", {"username": username}, format="json").json()["nonce"]
    return client.post(
        "/v1/auth/login",
        {
            "username": username,
            "password": password,
            "device": device.as_json(),
            "nonce": nonce,
            "signature": device.sign(nonce),
        },
        format="json",
    )


@pytest.fixture(scope="session", autouse=True)
def _close_pools_before_dropping_the_test_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Pooled connections would keep the test database busy when pytest-django drops it."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    request.getfixturevalue("django_db_setup")  # set up first, so torn down after us
    yield
    from django.db import connections

    for connection in connections.all():
        if hasattr(connection, "close_pool"):
            connection.close_pool()


@pytest.fixture(autouse=True)
def _fresh_throttles() -> Iterator[None]:
    """Throttle counters live in the shared cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_account(db: None) -> Any:
    """Register a user and log one device in; returns an Account with an authenticated client."""
    counter = iter(range(10_000))

    def _make(username: str | None = None, *, log_in: bool = True) -> Account:
        name = username or f"user{next(counter)}x{uuid.uuid4().hex[:6]}"
        entropy = os.urandom(16)
        client = APIClient()
        answer = client.post(
            "/v1/accounts/register",
            {
                "username": name,
                "password": PASSWORD,
                "recovery_hash": b64(blake3(recovery_proof(name, entropy)).digest()),
            },
            format="json",
        )
        assert answer.status_code == 201, answer.content
        account = Account(name, PASSWORD, entropy, client, DeviceKeys())
        if log_in:
            response = login(client, name, PASSWORD, account.device)
            assert response.status_code == 200, response.content
            account.token = response.json()["token"]
            account.device_id = response.json()["device_id"]
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {account.token}")
        cache.clear()
        return account

    return _make


def json_call(
    base_url: str, method: str, path: str, body: Any = None, token: str = "", timeout: float = 30
) -> tuple[int, Any]:
    """One JSON request to a live server over real HTTP: (status, decoded body or None)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base_url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Other instances the federation tests start: B on 127.0.0.3, C on 127.0.0.4, each with a
# client port and a mutual-TLS s2s listener. This instance is `localhost`; its processes
# reach B and C at their s2s listeners (FEDERATION_HOSTS).
FEDERATION_B = "b.test"
FEDERATION_B_PORT = free_port()
FEDERATION_B_S2S_PORT = free_port()
FEDERATION_C = "c.test"
FEDERATION_C_PORT = free_port()
FEDERATION_C_S2S_PORT = free_port()
FEDERATION_HOSTS = {
    FEDERATION_B: f"127.0.0.3:{FEDERATION_B_S2S_PORT}",
    FEDERATION_C: f"127.0.0.4:{FEDERATION_C_S2S_PORT}",
}


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


def federation_hosts_env(hosts: dict[str, str] | None = None) -> str:
    """TALKEE_FEDERATION_HOSTS as an environment variable (`domain=host:port,...`)."""
    return ",".join(f"{d}={h}" for d, h in (FEDERATION_HOSTS if hosts is None else hosts).items())


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a subprocess that must see the test database pytest-django made."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="talkee.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


@dataclass
class LiveServer:
    url: str
    ws_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_daphne(
    tmp_dir: Path, name: str = "daphne", extra_env: dict[str, str] | None = None, port: int | None = None
) -> LiveServer:
    """`port`: a fixed one (a test that stops its server and starts it again at the same address)."""
    port = free_port() if port is None else port
    log_path = tmp_dir / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "talkee.server", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=server_env(extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    _wait_for_port(port, process)
    return LiveServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", process, log_path)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def live_server_daphne(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[LiveServer]:
    """A real daphne process serving the ASGI app on a free loopback port."""
    server = start_daphne(tmp_path_factory.mktemp("daphne"))
    yield server
    stop(server.process)


@pytest.fixture(scope="session")
def federation_pki(tmp_path_factory: Any) -> Pki:
    """A throwaway CA with a certificate for each test instance (tests/federation/pki.py)."""
    return make_pki(tmp_path_factory.mktemp("pki"), "Talkee test CA", ["localhost", FEDERATION_B, FEDERATION_C])


CELERY_WORKER_ARGS = (
    *(sys.executable, "-m", "celery", "-A", "talkee", "worker", "--pool", "solo", "--loglevel", "INFO"),
    *("--without-gossip", "--without-mingle", "--without-heartbeat"),
)


class CeleryWorker:
    """A real Celery worker process (solo pool) on the Redis broker, against the test
    database; `kill()` and `start()` let a test cut it off mid-task and bring a new one."""

    def __init__(self, log_path: Path, env: dict[str, str]) -> None:
        self.log_path, self.env = log_path, env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*CELERY_WORKER_ARGS],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while "ready" not in self.log_path.read_bytes()[offset:].decode(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("celery worker did not start:\n" + self.log_path.read_text(errors="replace"))
            time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, whatever task it is in the middle of."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup: None, federation_pki: Pki, tmp_path_factory: Any) -> Iterator[CeleryWorker]:
    federation = {"TALKEE_FEDERATION_HOSTS": federation_hosts_env(), **federation_pki.env("localhost")}
    worker = CeleryWorker(tmp_path_factory.mktemp("celery") / "worker.log", server_env(federation))
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def celery_worker_process(celery_worker: CeleryWorker) -> Path:
    """The running worker's log (tests read it to see which tasks ran)."""
    return celery_worker.log_path


# --- chats and messages ---------------------------------------------------------------


def make_chat(owner: Account, kind: str, *members: Account, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": kind, "members": [m.address for m in members], **extra}
    response = owner.client.post("/v1/chats", body, format="json")
    assert response.status_code in (200, 201), response.content
    return dict(response.json())


def send(
    account: Account, chat_id: str, text: bytes | None = None, *, headers: dict[str, str] | None = None, **extra: Any
) -> Any:
    body: dict[str, Any] = {
        "client_message_id": extra.pop("client_message_id", uuid.uuid4().hex),
        "kind": extra.pop("kind", "application"),
        "epoch": extra.pop("epoch", 0),
        "ciphertext": b64(text if text is not None else os.urandom(256)),
        **extra,
    }
    return account.client.post(f"/v1/chats/{chat_id}/messages", body, format="json", headers=headers)


def token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def push_service() -> Iterator[PushServiceStandIn]:
    """A push service on loopback that knows this instance's VAPID key (shared with the
    worker and the app's server): it verifies VAPID and decrypts what it receives."""
    from apps.push.vapid import vapid_public_key

    service = PushServiceStandIn(vapid_public_key())
    yield service
    service.stop()
