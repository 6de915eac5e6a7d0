"""A raw device socket (the `websockets` client), authenticated and synced."""

import asyncio
import json
from typing import Any

import websockets


async def open_socket(ws_url: str, token: str):
    socket = await websockets.connect(f"{ws_url}/v1/ws")
    await socket.send(json.dumps({"type": "auth", "token": token, "cursor": 0}))
    ready = json.loads(await asyncio.wait_for(socket.recv(), 5))
    assert ready["type"] == "ready"
    while json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] != "synced":
        pass
    return socket


async def close_code(socket: Any) -> int:
    """Reads until the server closes the socket; the close code it sent (5 s per frame at most)."""
    try:
        while True:
            await asyncio.wait_for(socket.recv(), 5)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, "the server did not close the socket"
        return int(closed.rcvd.code)
