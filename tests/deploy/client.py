"""A device's side of the API through the stack's front (or straight to one web container):
register and log in with a real Ed25519 device key, open /v1/ws over TLS, send and collect."""

import asyncio
import json
import os
import ssl
import uuid
from dataclasses import dataclass
from typing import Any

import websockets
from nacl.signing import SigningKey

from tests.conftest import b64
from tests.deploy.dockerstack import Stack

PASSWORD = "deployment test password"


@dataclass
class Device:
    username: str
    token: str


def login(stack: Stack, username: str) -> Device:
    """A new device for an existing account (password + signed challenge)."""
    key = SigningKey.generate()
    nonce = stack.call("POST", "/v1/auth/challenge", {"username": username})["nonce"]
    device = {
        "client_device_id": str(uuid.uuid4()),
        "ed25519_pub": b64(bytes(key.verify_key)),
        "x25519_pub": b64(os.urandom(32)),
        "label": "deploy test",
    }
    answer = stack.call(
        "POST",
        "/v1/auth/login",
        {
            "username": username,
            "password": PASSWORD,
            "device": device,
            "nonce": nonce,
            "signature": b64(key.sign(nonce.encode()).signature),
        },
    )
    return Device(username, str(answer["token"]))


def register(stack: Stack, prefix: str) -> Device:
    username = f"{prefix}{uuid.uuid4().hex[:8]}"
    body = {"username": username, "password": PASSWORD, "recovery_hash": b64(os.urandom(32))}
    stack.call("POST", "/v1/accounts/register", body)
    return login(stack, username)


def direct_chat(stack: Stack, a: Device, b: Device) -> str:
    chat = stack.call("POST", "/v1/chats", {"kind": "direct", "members": [b.username], "ttl_seconds": None}, a.token)
    return str(chat["id"])


def send_frame(chat_id: str, text: bytes, client_message_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "send",
        "chat_id": chat_id,
        "client_message_id": client_message_id or uuid.uuid4().hex,
        "kind": "application",
        "epoch": 0,
        "ciphertext": b64(text),
    }


class Socket:
    """/v1/ws for one device; `cursor` advances with the stream frames it has seen."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.cursor: int | None = None
        self.events: list[dict[str, Any]] = []
        self.ws: Any = None

    async def open(self, stack: Stack, *, direct_ip: str | None = None, cursor: int | None = None) -> "Socket":
        if direct_ip is not None:  # one web container, plain ws on the compose network
            self.ws = await websockets.connect(
                f"ws://{stack.domain}:8000/v1/ws", host=direct_ip, port=8000, max_size=None, open_timeout=20
            )
        else:  # through the front, TLS with the test CA
            self.ws = await websockets.connect(
                f"wss://{stack.domain}:{stack.ports['https']}/v1/ws",
                host="127.0.0.1",
                port=stack.ports["https"],
                ssl=stack.tls_context(),
                server_hostname=stack.domain,
                max_size=None,
                open_timeout=20,
            )
        auth: dict[str, Any] = {"type": "auth", "token": self.device.token}
        start = cursor if cursor is not None else self.cursor
        if start is not None:
            auth["cursor"] = start
        await self.ws.send(json.dumps(auth))
        ready = await self.recv()
        assert ready["type"] == "ready", ready
        if self.cursor is None:
            self.cursor = ready["cursor"]
        await self.until(lambda f: f["type"] == "synced")
        return self

    async def recv(self, timeout: float = 20) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if frame["type"] == "event":
            self.events.append(frame)
        if "cursor" in frame and frame["type"] in ("event", "reaction", "device_event"):
            self.cursor = max(self.cursor or 0, frame["cursor"])
        return frame

    async def until(self, predicate: Any, timeout: float = 20) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.1, deadline - loop.time()))
            if predicate(frame):
                return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def texts(self) -> list[bytes]:
        import base64

        return [base64.b64decode(f["message"]["ciphertext"]) for f in self.events if f["message"]["ciphertext"]]


def tls13_only_refuses(stack: Stack) -> str:
    """Handshake with a client that speaks at most TLS 1.2; returns the error text."""
    try:
        with stack.connect_tls(stack.tls_context(maximum=ssl.TLSVersion.TLSv1_2)) as sock:
            return f"handshake succeeded with {sock.version()}"
    except ssl.SSLError as exc:
        return f"refused: {exc}"
