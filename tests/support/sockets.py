"""A raw device socket (the `websockets` client), authenticated and synced."""

import asyncio
import json

import websockets


async def open_socket(ws_url: str, token: str):
    socket = await websockets.connect(f"{ws_url}/v1/ws")
    await socket.send(json.dumps({"type": "auth", "token": token, "cursor": 0}))
    ready = json.loads(await asyncio.wait_for(socket.recv(), 5))
    assert ready["type"] == "ready"
    while json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] != "synced":
        pass
    return socket
