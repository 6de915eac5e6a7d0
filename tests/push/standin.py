"""A push service on loopback speaking RFC 8030 (push message delivery), checking RFC 8292
(VAPID) and decrypting RFC 8291 (aes128gcm) payloads with the subscriber's private key —
what Mozilla's, Google's or Apple's service does, plus the subscriber's side of decryption.

Each subscription gets its own endpoint and a script of answers (201 by default; 404, 410,
429 with Retry-After, 500, or "hang" — keep the connection open without answering).
Everything received is recorded, verified and decrypted; what fails verification is
answered 401/400 and recorded in `refused`.
"""

import base64
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

HANG = "hang"
URGENCIES = {"very-low", "low", "normal", "high"}
TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscriber:
    """The browser's side of one subscription: its keys and where it is reachable."""

    endpoint: str
    token: str
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))
    script: list[Any] = field(default_factory=list)  # answers to give, in order; then 201

    @property
    def p256dh(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def as_json(self) -> dict[str, Any]:
        """What `PushSubscription.toJSON()` gives the PWA."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64url(self.p256dh), "auth": b64url(self.auth)}}


@dataclass
class Received:
    token: str
    at: float
    status: int
    headers: dict[str, str]
    body: bytes
    plaintext: bytes
    claims: dict[str, Any]


class PushServiceStandIn:
    def __init__(self, vapid_public_key: str) -> None:
        self.vapid_public_key = vapid_public_key
        self.subscribers: dict[str, Subscriber] = {}
        self.received: list[Received] = []
        self.refused: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                stand_in._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def subscribe(self, *script: Any) -> Subscriber:
        token = secrets.token_urlsafe(16)
        subscriber = Subscriber(endpoint=f"{self.origin}/push/{token}", token=token, script=list(script))
        self.subscribers[token] = subscriber
        return subscriber

    def pushes_for(self, subscriber: Subscriber, status: int | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.token == subscriber.token and (status is None or r.status == status)]

    def wait_for(
        self, subscriber: Subscriber, count: int = 1, timeout: float = 20.0, status: int = 201
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.pushes_for(subscriber, status)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        got = len(self.pushes_for(subscriber, status))
        raise AssertionError(f"{got} pushes, wanted {count}; refused {self.refused}")

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    # --- one request --------------------------------------------------------------------
    def _refuse(self, handler: BaseHTTPRequestHandler, status: int, reason: str) -> None:
        with self.lock:
            self.refused.append(reason)
        self._answer(handler, status, {})

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str]) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        token = handler.path.removeprefix("/push/")
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        subscriber = self.subscribers.get(token)
        if subscriber is None:
            self._refuse(handler, 404, "unknown endpoint")
            return
        try:
            claims = self._verify_vapid(handler.headers.get("Authorization", ""), handler.headers.get("Crypto-Key"))
        except AssertionError as exc:
            self._refuse(handler, 401, f"vapid: {exc}")
            return
        headers = {k.lower(): v for k, v in handler.headers.items()}
        problems = []
        if headers.get("content-encoding") != "aes128gcm":
            problems.append("content-encoding")
        if not headers.get("ttl", "").isdigit():
            problems.append("ttl")
        if headers.get("urgency", "normal") not in URGENCIES:
            problems.append("urgency")
        if "topic" in headers and not TOPIC.match(headers["topic"]):
            problems.append("topic")
        try:
            plaintext = http_ece.decrypt(
                body, private_key=subscriber.private_key, auth_secret=subscriber.auth, version="aes128gcm"
            )
        except Exception as exc:
            problems.append(f"decrypt: {type(exc).__name__}")
            plaintext = b""
        if problems:
            self._refuse(handler, 400, ", ".join(problems))
            return
        answer = subscriber.script.pop(0) if subscriber.script else 201
        status = 0 if answer == HANG else int(answer if isinstance(answer, int) else answer[0])
        with self.lock:
            self.received.append(Received(token, time.monotonic(), status, headers, body, plaintext, claims))
        if answer == HANG:
            self.stopping.wait(60)  # hold the connection open, never answering
            return
        extra: dict[str, str] = {}
        if status == 201:
            extra["Location"] = f"{self.origin}/message/{secrets.token_urlsafe(8)}"
        if isinstance(answer, tuple):
            extra.update(answer[1])
        self._answer(handler, status, extra)

    def _verify_vapid(self, authorization: str, crypto_key: str | None) -> dict[str, Any]:
        """RFC 8292: `vapid t=<JWT>, k=<key>`; the JWT is ES256 by the application server's key."""
        scheme, _, params = authorization.partition(" ")
        assert scheme.lower() == "vapid", "Authorization scheme is not vapid"
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        assert parts.get("k") == self.vapid_public_key, "k is not the instance's VAPID key"
        if crypto_key is not None:
            assert "p256ecdsa" not in crypto_key or self.vapid_public_key in crypto_key, "Crypto-Key names another key"
        header_b64, payload_b64, signature_b64 = parts["t"].split(".")
        header = json.loads(unb64url(header_b64))
        assert header.get("alg") == "ES256", f"alg {header.get('alg')}"
        signature = unb64url(signature_b64)
        assert len(signature) == 64, "ES256 signature is 64 bytes (r || s)"
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
        try:
            public.verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise AssertionError("bad JWT signature") from None
        claims = json.loads(unb64url(payload_b64))
        assert claims.get("aud") == self.origin, f"aud {claims.get('aud')} is not {self.origin}"
        now = time.time()
        assert now < int(claims.get("exp", 0)) <= now + 24 * 3600, "exp not within 24 h"
        assert str(claims.get("sub", "")).startswith(("mailto:", "https:")), "sub missing"
        return dict(claims)
