"""/v1/ws edge cases over a real daphne: what a client sees for bad frames, bad tokens,
unknown frame types and silence. Close codes from API.md: 4003 forbidden, 4008 bad frame."""

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.conftest import LiveServer, start_daphne, stop

Frame = dict[str, Any]


async def frames_until_closed(socket: Any, timeout: float = 5.0) -> tuple[list[Frame], int | None]:
    """Every frame the server sends until it closes, and the close code it sent."""
    frames: list[Frame] = []
    try:
        while True:
            raw = await asyncio.wait_for(socket.recv(), timeout)
            frames.append(json.loads(raw))
    except websockets.ConnectionClosed as closed:
        return frames, (closed.rcvd.code if closed.rcvd is not None else None)


async def next_of_type(socket: Any, kind: str) -> Frame:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
        if frame["type"] == kind:
            return dict(frame)
        assert frame["type"] not in ("error",), frame


def send_and_watch(ws_url: str, *messages: str | bytes) -> tuple[list[Frame], int | None]:
    async def scenario() -> tuple[list[Frame], int | None]:
        async with websockets.connect(f"{ws_url}/v1/ws", max_size=None) as socket:
            for message in messages:
                await socket.send(message)
            return await frames_until_closed(socket)

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param("hello", id="not-json"),
        pytest.param("{", id="truncated-json"),
        pytest.param("[1, 2]", id="json-list"),
        pytest.param('"auth"', id="json-string"),
        pytest.param("null", id="json-null"),
        pytest.param("{}", id="no-type"),
        pytest.param('{"type": 7}', id="type-not-a-string"),
        pytest.param('{"type": null, "token": "x"}', id="type-null"),
        pytest.param(b"\x00\x01binary", id="binary-frame"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="deeply-nested"),
    ],
)
def test_garbage_first_frame_is_closed_4008(live_server_daphne: LiveServer, garbage: str | bytes) -> None:
    frames, code = send_and_watch(live_server_daphne.ws_url, garbage)
    assert code == 4008
    assert [f["type"] for f in frames] == ["error"]
    assert frames[0]["code"] == "bad_frame"
    assert isinstance(frames[0]["message"], str)


@pytest.mark.parametrize(
    "first",
    [
        pytest.param({"type": "ping"}, id="ping"),
        pytest.param({"type": "send", "chat_id": "x"}, id="send"),
        pytest.param({"type": "AUTH", "token": "x"}, id="wrong-case"),
    ],
)
def test_first_frame_not_auth_is_closed_4003(live_server_daphne: LiveServer, first: Frame) -> None:
    frames, code = send_and_watch(live_server_daphne.ws_url, json.dumps(first))
    assert code == 4003
    assert [(f["type"], f["code"]) for f in frames] == [("error", "unauthenticated")]


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param({"type": "auth"}, id="no-token"),
        pytest.param({"type": "auth", "token": ""}, id="empty-token"),
        pytest.param({"type": "auth", "token": "A" * 43}, id="unknown-token"),
        pytest.param({"type": "auth", "token": "A" * 100_000}, id="huge-token"),
        pytest.param({"type": "auth", "token": 12345}, id="number-token"),
        pytest.param({"type": "auth", "token": ["x"]}, id="list-token"),
        pytest.param({"type": "auth", "token": "caf\u00e9"}, id="non-ascii-token"),
        pytest.param({"type": "auth", "token": "\ud800"}, id="lone-surrogate-token"),
        pytest.param({"type": "auth", "token": "abc\u0000"}, id="nul-token"),
    ],
)
def test_invalid_token_is_closed_4003(live_server_daphne: LiveServer, auth: Frame) -> None:
    frames, code = send_and_watch(live_server_daphne.ws_url, json.dumps(auth))
    assert code == 4003
    assert [(f["type"], f["code"]) for f in frames] == [("error", "unauthenticated")]


@pytest.mark.django_db(transaction=True)
def test_unknown_frame_after_auth_is_an_error_and_the_socket_stays(
    make_account: Any, live_server_daphne: LiveServer
) -> None:
    alice = make_account()

    async def scenario() -> tuple[Frame, Frame, Frame, str]:
        async with websockets.connect(f"{live_server_daphne.ws_url}/v1/ws") as socket:
            await socket.send(json.dumps({"type": "auth", "token": alice.token, "cursor": 0}))
            ready = await next_of_type(socket, "ready")
            await socket.send(json.dumps({"type": "teleport", "to": "mars"}))
            unknown = json.loads(await asyncio.wait_for(socket.recv(), 5))
            while unknown["type"] != "error":  # replay/synced/presence may come first
                unknown = json.loads(await asyncio.wait_for(socket.recv(), 5))
            await socket.send(json.dumps({"type": "auth", "token": alice.token}))
            again = json.loads(await asyncio.wait_for(socket.recv(), 5))
            await socket.send(json.dumps({"type": "ping"}))
            pong = await next_of_type(socket, "pong")
            return ready, unknown, again, pong["type"]

    ready, unknown, again, pong = asyncio.run(scenario())
    assert ready["device_id"] == alice.device_id
    assert ready["user"] == alice.address
    assert unknown["code"] == "unknown_type"
    assert "teleport" in unknown["message"]
    assert again["type"] == "error", "a second auth is not a new login"
    assert pong == "pong"


@pytest.mark.django_db(transaction=True)
def test_garbage_after_auth_is_still_closed_4008(make_account: Any, live_server_daphne: LiveServer) -> None:
    alice = make_account()
    frames, code = send_and_watch(
        live_server_daphne.ws_url, json.dumps({"type": "auth", "token": alice.token, "cursor": 0}), "not json"
    )
    assert code == 4008
    assert frames[0]["type"] == "ready"
    assert frames[-1]["code"] == "bad_frame"


# --- silence: a socket that never authenticates is closed after TALKEE_WS_AUTH_TIMEOUT_SECONDS


@pytest.fixture(scope="module")
def impatient_daphne(django_db_setup: None, tmp_path_factory: Any) -> Iterator[LiveServer]:
    server = start_daphne(
        Path(tmp_path_factory.mktemp("impatient")), "impatient", {"TALKEE_WS_AUTH_TIMEOUT_SECONDS": "0.5"}
    )
    yield server
    stop(server.process)


def test_no_auth_within_the_timeout_is_closed(impatient_daphne: LiveServer) -> None:
    async def scenario() -> tuple[list[Frame], int | None, float]:
        started = time.monotonic()
        async with websockets.connect(f"{impatient_daphne.ws_url}/v1/ws") as socket:
            frames, code = await frames_until_closed(socket, timeout=10)
        return frames, code, time.monotonic() - started

    frames, code, elapsed = asyncio.run(scenario())
    assert code == 4003
    assert [(f["type"], f["code"]) for f in frames] == [("error", "auth_timeout")]
    assert 0.4 < elapsed < 5.0


@pytest.mark.django_db(transaction=True)
def test_an_authenticated_socket_outlives_the_auth_timeout(make_account: Any, impatient_daphne: LiveServer) -> None:
    alice = make_account()

    async def scenario() -> str:
        async with websockets.connect(f"{impatient_daphne.ws_url}/v1/ws") as socket:
            await socket.send(json.dumps({"type": "auth", "token": alice.token, "cursor": 0}))
            await next_of_type(socket, "ready")
            await asyncio.sleep(1.5)
            await socket.send(json.dumps({"type": "ping"}))
            return (await next_of_type(socket, "pong"))["type"]

    assert asyncio.run(scenario()) == "pong"
