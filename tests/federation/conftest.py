"""A stand-in remote instance on loopback (`partner.test`: it publishes
/.well-known/talkee/server with a key the test controls over plain http, and signs requests
with it — for the signature checks, with mutual TLS off), and this instance's own mutual-TLS
s2s listener on 127.0.0.2 for the tests with real instances."""

import base64
import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from nacl.signing import SigningKey

from apps.federation.signing import canonical, signed_fields
from tests.conftest import ROOT, _wait_for_port, federation_hosts_env, free_port, server_env, stop
from tests.federation.pki import Pki

PARTNER = "partner.test"


class StandInPeer:
    def __init__(self) -> None:
        self.key = SigningKey.generate()
        self.published = self.key
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        # Uploads of its members it serves to the chat's home (GET /s2s/v1/uploads/<id>,
        # one Range), and the status it answers instead while `file_status` is set.
        self.files: dict[str, bytes] = {}
        self.file_status: int | None = None
        self.file_requests: list[str] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/s2s/v1/uploads/"):
                    self._upload(self.path.rsplit("/", 1)[1])
                    return
                if self.path != "/.well-known/talkee/server":
                    self.send_error(404)
                    return
                body = json.dumps(
                    {
                        "domain": PARTNER,
                        "federation_url": "http://x/s2s/",
                        "ed25519_pub": base64.b64encode(bytes(peer.published.verify_key)).decode(),
                    }
                )
                self._answer(200, body.encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                peer.requests.append((self.path, dict(self.headers), self.rfile.read(length)))
                self._answer(202, b'{"accepted": 1}')

            def _upload(self, blob_id: str) -> None:
                peer.file_requests.append(f"{blob_id} {self.headers.get('Range')}")
                data = peer.files.get(blob_id)
                if peer.file_status is not None or data is None:
                    self._answer(peer.file_status or 404, b'{"error": {"code": "x", "message": "x"}}')
                    return
                first, last = (int(x) for x in self.headers["Range"].removeprefix("bytes=").split("-"))
                self._answer(206, data[first : last + 1])

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def headers(
        self,
        method: str,
        path: str,
        body: bytes,
        *,
        destination: str = "localhost",
        txn_id: str | None = None,
        ts: int | None = None,
        key: SigningKey | None = None,
        origin: str = PARTNER,
    ) -> dict[str, str]:
        txn_id = txn_id or secrets.token_urlsafe(12)
        ts = int(time.time()) if ts is None else ts
        fields = signed_fields(method, path, origin, destination, body, ts, txn_id)
        signature = (key or self.key).sign(canonical(fields)).signature
        return {
            "HTTP_X_TALKEE_ORIGIN": origin,
            "HTTP_X_TALKEE_DESTINATION": destination,
            "HTTP_X_TALKEE_TS": str(ts),
            "HTTP_X_TALKEE_TXN": txn_id,
            "HTTP_X_TALKEE_SIGNATURE": base64.b64encode(signature).decode(),
        }


@pytest.fixture
def partner() -> Iterator[StandInPeer]:
    peer = StandInPeer()
    with override_settings(
        TALKEE_FEDERATION_HOSTS={PARTNER: f"127.0.0.1:{peer.port}"},
        TALKEE_FEDERATION_SCHEME="http",
        TALKEE_FEDERATION_REQUIRE_MTLS=False,
    ):
        yield peer
    peer.server.shutdown()


def start_s2s(host: str, port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m talkee.server --s2s`: the mutual-TLS listener, as production runs it."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "talkee.server", "--s2s", "--host", host, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    _wait_for_port(port, process, host=host)
    return process


@dataclass
class S2sListener:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@pytest.fixture(scope="session")
def instance_a_s2s(django_db_setup: None, federation_pki: Pki, tmp_path_factory: Any) -> Iterator[S2sListener]:
    """This instance's (`localhost`) s2s listener on 127.0.0.2, on the test database."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("s2s") / "a-s2s.log"
    env = server_env({**federation_pki.env("localhost"), "TALKEE_FEDERATION_HOSTS": federation_hosts_env()})
    listener = S2sListener("127.0.0.2", port, start_s2s("127.0.0.2", port, env, log_path), log_path)
    yield listener
    stop(listener.process)


# B beside A for this directory's tests (tests/support/federation.py; it imports this module,
# so the import comes last). A module that needs B at another scope defines its own.
from tests.support.federation import instance_b  # noqa: E402, F401
