"""`make run` on a fresh machine: no DATABASE_URL / REDIS_URL. The embedded default
(SQLite in var/, in-memory channel layer, in-process periodic jobs) must be the real
thing: register, log in, create a chat, send over one socket, receive on another."""

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from tests.conftest import ROOT, _wait_for_port, b64, free_port, stop

pytestmark = pytest.mark.slow


def embedded_env(var_dir: Path) -> dict[str, str]:
    # talkee.settings.test put its service URLs into this process's environment: drop them.
    service_vars = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CHANNEL_REDIS_URLS", "TALKEE_INPROCESS_JOBS")
    env = {k: v for k, v in os.environ.items() if k not in service_vars}
    env.update(
        DJANGO_SETTINGS_MODULE="talkee.settings.dev",
        TALKEE_VAR_DIR=str(var_dir),
        DEBUG="false",
        TALKEE_PURGE_INTERVAL_SECONDS="1",
    )
    return env


def call(base: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(
        f"{base}{path}",
        method=method,
        data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    return dict(json.loads(raw)) if raw else {}


def register_and_login(base: str, name: str) -> str:
    call(
        base,
        "POST",
        "/v1/accounts/register",
        {"username": name, "password": "embedded default pw", "recovery_hash": b64(os.urandom(32))},
    )
    key = SigningKey.generate()
    nonce = call(base, "POST", "/v1/auth/challenge", {"username": name})["nonce"]
    device = {
        "client_device_id": str(uuid.uuid4()),
        "ed25519_pub": b64(bytes(key.verify_key)),
        "x25519_pub": b64(os.urandom(32)),
        "label": "embedded",
    }
    answer = call(
        base,
        "POST",
        "/v1/auth/login",
        {
            "username": name,
            "password": "embedded default pw",
            "device": device,
            "nonce": nonce,
            "signature": b64(key.sign(nonce.encode()).signature),
        },
    )
    return str(answer["token"])


def test_embedded_default_serves_the_whole_path(tmp_path: Path) -> None:
    import websockets

    env = embedded_env(tmp_path / "var")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "manage.py", "ensure_instance_key"], cwd=ROOT, env=env, check=True)
    key_file = tmp_path / "var" / "keys" / "instance_ed25519"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "talkee.server", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, server)
        base = f"http://127.0.0.1:{port}"
        health = call(base, "GET", "/healthz")
        assert health == {"status": "ok", "database": "ok", "channel_layer": "ok", "broker": "in-process"}
        alice, bob = register_and_login(base, "alice"), register_and_login(base, "bob")
        chat = call(base, "POST", "/v1/chats", {"kind": "direct", "members": ["bob"], "ttl_seconds": None}, alice)

        async def scenario() -> dict:
            async with (
                websockets.connect(f"ws://127.0.0.1:{port}/v1/ws") as a,
                websockets.connect(f"ws://127.0.0.1:{port}/v1/ws") as b,
            ):
                for sock, token in ((a, alice), (b, bob)):
                    await sock.send(json.dumps({"type": "auth", "token": token}))
                    while json.loads(await sock.recv())["type"] != "synced":
                        pass
                await a.send(
                    json.dumps(
                        {
                            "type": "send",
                            "chat_id": chat["id"],
                            "client_message_id": "embedded-1",
                            "kind": "application",
                            "epoch": 0,
                            "ciphertext": b64(b"sealed"),
                            "ttl_seconds": 1,
                        }
                    )
                )
                while True:
                    frame = json.loads(await asyncio.wait_for(b.recv(), 10))
                    if frame["type"] == "event":
                        first = frame
                        break
                # the in-process periodic job purges the 1-second message by itself
                while True:
                    frame = json.loads(await asyncio.wait_for(b.recv(), 15))
                    if frame["type"] == "event" and frame["message"]["deleted"]:
                        return {"first": first, "purged": frame}

        frames = asyncio.run(scenario())
        assert frames["first"]["message"]["ciphertext"] == b64(b"sealed")
        assert frames["purged"]["message"]["id"] == frames["first"]["message"]["id"]
        assert frames["purged"]["message"]["ciphertext"] is None
    finally:
        stop(server)
        log.close()
    assert (tmp_path / "var" / "talkee.sqlite3").exists()
    assert "Traceback" not in (tmp_path / "server.log").read_text()
