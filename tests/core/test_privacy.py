"""Secrets a user hands the server (password, session token, recovery material) never reach
a log line: not the server process's stdout, not the in-process loggers — at DEBUG level,
through success and failure paths alike."""

import asyncio
import base64
import json
import logging
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from blake3 import blake3
from rest_framework.test import APIClient

from tests.conftest import DeviceKeys, LiveServer, b64, fake_keypackage, json_call, recovery_proof, start_daphne, stop


@pytest.fixture(scope="module")
def chatty_daphne(django_db_setup: None, tmp_path_factory: Any) -> Iterator[LiveServer]:
    """A daphne logging everything down to DEBUG, so a leak at any level shows up."""
    server = start_daphne(Path(tmp_path_factory.mktemp("chatty")), "chatty", {"LOG_LEVEL": "DEBUG"})
    yield server
    stop(server.process)


def call(server: LiveServer, method: str, path: str, body: Any = None, token: str = "") -> tuple[int, Any]:
    return json_call(server.url, method, path, body, token, timeout=10)


class Secrets:
    def __init__(self) -> None:
        self.username = f"priv{uuid.uuid4().hex[:8]}"
        self.password = f"first password {uuid.uuid4().hex}"
        self.wrong_password = f"wrong guess {uuid.uuid4().hex}"
        self.new_password = f"second password {uuid.uuid4().hex}"
        self.entropy = os.urandom(16)
        self.proof = recovery_proof(self.username, self.entropy)
        self.tokens: list[str] = []

    def all(self) -> dict[str, str]:
        found = {
            "password": self.password,
            "wrong password": self.wrong_password,
            "new password": self.new_password,
            "entropy (hex)": self.entropy.hex(),
            "entropy (base64)": base64.b64encode(self.entropy).decode(),
            "recovery proof (base64)": b64(self.proof),
            "recovery proof (hex)": self.proof.hex(),
        }
        for i, token in enumerate(self.tokens):
            found[f"token {i}"] = token
        assert self.tokens, "the scenario logged in"
        return found


def assert_nowhere(secrets: Secrets, text: str, where: str) -> None:
    assert text.strip(), f"{where} is empty; the check would prove nothing"
    leaks = [name for name, value in secrets.all().items() if value in text]
    assert not leaks, f"{where} contains: {leaks}"


def full_life(server: LiveServer, secrets: Secrets) -> None:
    """Register, fail and succeed to log in, upload KeyPackages, use the socket, revoke, recover."""
    hash_ = b64(blake3(secrets.proof).digest())
    status, _ = call(
        server,
        "POST",
        "/v1/accounts/register",
        {"username": secrets.username, "password": secrets.password, "recovery_hash": hash_},
    )
    assert status == 201

    def log_in(password: str, keys: DeviceKeys) -> tuple[int, Any]:
        _, challenge = call(server, "POST", "/v1/auth/challenge", {"username": secrets.username})
        nonce = challenge["nonce"]
        body = {
            "username": secrets.username,
            "password": password,
            "device": keys.as_json(),
            "nonce": nonce,
            "signature": keys.sign(nonce),
        }
        return call(server, "POST", "/v1/auth/login", body)

    assert log_in(secrets.wrong_password, DeviceKeys())[0] == 401
    status, laptop = log_in(secrets.password, DeviceKeys())
    assert status == 200
    status, phone = log_in(secrets.password, DeviceKeys())
    assert status == 200
    secrets.tokens += [laptop["token"], phone["token"]]

    upload = {"keypackages": [b64(fake_keypackage()) for _ in range(3)]}
    assert call(server, "POST", "/v1/keypackages", upload, token=phone["token"])[0] == 201
    assert call(server, "GET", "/v1/devices", token=laptop["token"])[0] == 200

    async def sockets() -> None:
        async with websockets.connect(f"{server.ws_url}/v1/ws") as socket:
            await socket.send(json.dumps({"type": "auth", "token": laptop["token"], "cursor": 0}))
            await socket.send(json.dumps({"type": "ping"}))
            while json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] != "pong":
                pass
        async with websockets.connect(f"{server.ws_url}/v1/ws") as socket:  # a token in a bad frame
            await socket.send(json.dumps({"type": "ping", "token": laptop["token"]}))
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(socket.recv(), 5)

    asyncio.run(sockets())
    assert call(server, "DELETE", f"/v1/devices/{phone['device_id']}", token=laptop["token"])[0] == 204
    assert call(server, "GET", "/v1/devices", token=phone["token"])[0] == 401

    recover = {"username": secrets.username, "recovery_proof": b64(secrets.proof), "new_password": secrets.new_password}
    wrong = dict(recover, recovery_proof=b64(blake3(secrets.proof).digest()))
    assert call(server, "POST", "/v1/accounts/recover", wrong)[0] == 403
    assert call(server, "POST", "/v1/accounts/recover", recover)[0] == 204
    assert call(server, "GET", "/v1/devices", token=laptop["token"])[0] == 401


@pytest.mark.django_db(transaction=True)
def test_no_secret_in_the_server_log(chatty_daphne: LiveServer) -> None:
    secrets = Secrets()
    full_life(chatty_daphne, secrets)
    stop(chatty_daphne.process)  # flush everything it had to say
    assert_nowhere(secrets, chatty_daphne.log(), "the daphne log")


@pytest.mark.django_db(transaction=True)
def test_no_secret_in_the_default_server_log(live_server_daphne: LiveServer) -> None:
    secrets = Secrets()
    full_life(live_server_daphne, secrets)
    text = live_server_daphne.log()
    leaks = [name for name, value in secrets.all().items() if value in text]
    assert not leaks, f"the daphne log contains: {leaks}"


@pytest.mark.django_db
def test_no_secret_in_in_process_logs(caplog: pytest.LogCaptureFixture) -> None:
    """The same life in-process, with every logger captured at DEBUG."""
    caplog.set_level(logging.DEBUG)
    secrets = Secrets()
    client = APIClient()
    hash_ = b64(blake3(secrets.proof).digest())
    body = {"username": secrets.username, "password": secrets.password, "recovery_hash": hash_}
    assert client.post("/v1/accounts/register", body, format="json").status_code == 201

    def log_in(password: str) -> Any:
        keys = DeviceKeys()
        nonce = client.post("/v1/auth/challenge", {"username": secrets.username}, format="json").json()["nonce"]
        body = {
            "username": secrets.username,
            "password": password,
            "device": keys.as_json(),
            "nonce": nonce,
            "signature": keys.sign(nonce),
        }
        return client.post("/v1/auth/login", body, format="json")

    assert log_in(secrets.wrong_password).status_code == 401
    laptop, phone = log_in(secrets.password).json(), log_in(secrets.password).json()
    secrets.tokens += [laptop["token"], phone["token"]]
    phone_client, laptop_client = APIClient(), APIClient()
    phone_client.credentials(HTTP_AUTHORIZATION=f"Bearer {phone['token']}")
    laptop_client.credentials(HTTP_AUTHORIZATION=f"Bearer {laptop['token']}")
    upload = {"keypackages": [b64(fake_keypackage()) for _ in range(3)]}
    assert phone_client.post("/v1/keypackages", upload, format="json").status_code == 201
    assert laptop_client.delete(f"/v1/devices/{phone['device_id']}").status_code == 204
    recover = {"username": secrets.username, "recovery_proof": b64(secrets.proof), "new_password": secrets.new_password}
    assert client.post("/v1/accounts/recover", recover, format="json").status_code == 204
    # A malformed body that carries a secret is refused without echoing it into a log.
    leaky = {"username": secrets.username, "password": secrets.password, "recovery_hash": "not base64!"}
    assert client.post("/v1/accounts/register", leaky, format="json").status_code == 400
    assert_nowhere(secrets, caplog.text + "\n".join(str(vars(r)) for r in caplog.records), "the captured logs")


def request_lines(log: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in log.splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("logger") == "talkee.request"]


def ask_with_request_id(server: LiveServer, path: str, request_id: str) -> tuple[int, str]:
    request = urllib.request.Request(server.url + path, headers={"X-Request-ID": request_id})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["X-Request-ID"]
    except urllib.error.HTTPError as error:
        return error.code, error.headers["X-Request-ID"]


@pytest.mark.django_db(transaction=True)
def test_request_lines_name_the_route_and_the_request_id_never_the_values(live_server_daphne: LiveServer) -> None:
    secrets = Secrets()
    full_life(live_server_daphne, secrets)
    chat_id = uuid.uuid4()
    # The front's id is kept (answered and logged); one that is not a UUID is replaced.
    front_id = str(uuid.uuid4())
    assert ask_with_request_id(live_server_daphne, f"/v1/chats/{chat_id}/messages", front_id) == (401, front_id)
    status, replaced = ask_with_request_id(live_server_daphne, "/v1/devices", "made-up; drop table")
    assert status == 401 and replaced != "made-up; drop table"
    assert uuid.UUID(replaced)

    lines = request_lines(live_server_daphne.log())
    by_id = {line["request_id"]: line for line in lines}
    assert {k: by_id[front_id][k] for k in ("method", "route", "status")} == {
        "method": "GET",
        "route": "v1/chats/<uuid:chat_id>/messages",
        "status": 401,
    }
    assert by_id[replaced]["route"] == "v1/devices"
    # Every request of that life has its line, with a route pattern: no id, user or token.
    routes = {line["route"] for line in lines}
    assert {"v1/accounts/register", "v1/auth/login", "v1/devices/<int:device_id>"} <= routes, routes
    text = json.dumps(lines)
    assert str(chat_id) not in text
    leaks = [name for name, value in secrets.all().items() if value in text]
    assert not leaks, f"request lines contain: {leaks}"
