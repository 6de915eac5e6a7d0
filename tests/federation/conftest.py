"""A stand-in remote instance on loopback: it publishes /.well-known/talkee/server for
`partner.test` with a key the test controls, and signs requests with it."""

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import override_settings
from nacl.signing import SigningKey

from apps.federation.signing import canonical, signed_fields

PARTNER = "partner.test"


class StandInPeer:
    def __init__(self) -> None:
        self.key = SigningKey.generate()
        self.published = self.key
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
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
        TALKEE_FEDERATION_HOSTS={PARTNER: f"127.0.0.1:{peer.port}"}, TALKEE_FEDERATION_SCHEME="http"
    ):
        yield peer
    peer.server.shutdown()
