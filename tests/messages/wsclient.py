"""A small device-side client of /v1/ws for tests: it keeps its own cursor the way the
PWA does (advanced after a frame is processed) and records every frame it processed."""

import asyncio
import json
from typing import Any

import websockets


class SocketDevice:
    def __init__(self, ws_url: str, token: str) -> None:
        self.ws_url = ws_url
        self.token = token
        self.cursor: int | None = None
        self.frames: list[dict[str, Any]] = []  # stream frames (event, reaction, device_event)
        self.frames_seen: list[dict[str, Any]] = []  # every frame received
        self.socket: Any = None

    async def connect(self, *, cursor: int | None = None, wait_synced: bool = True) -> dict[str, Any]:
        self.socket = await websockets.connect(f"{self.ws_url}/v1/ws", max_size=None)
        start = cursor if cursor is not None else self.cursor
        frame: dict[str, Any] = {"type": "auth", "token": self.token}
        if start is not None:
            frame["cursor"] = start
        await self.socket.send(json.dumps(frame))
        ready = await self.recv()
        assert ready["type"] == "ready", ready
        if self.cursor is None:
            self.cursor = ready["cursor"]
        if wait_synced:
            await self.until(lambda f: f["type"] == "synced")
        return ready

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.socket.recv(), timeout))
        self.frames_seen.append(frame)
        if "cursor" in frame and frame["type"] in ("event", "reaction", "device_event"):
            self.frames.append(frame)
            self.cursor = max(self.cursor or 0, frame["cursor"])
        return dict(frame)

    async def until(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.1, deadline - loop.time()))
            if predicate(frame):
                return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(frame))

    async def ack(self) -> None:
        await self.send({"type": "ack", "cursor": self.cursor})

    async def drop(self) -> None:
        """Cut the connection without a closing handshake, like a phone losing signal."""
        self.socket.transport.abort()
        await asyncio.sleep(0)

    async def close(self) -> None:
        await self.socket.close()

    def message_ids(self) -> list[int]:
        return [f["message"]["id"] for f in self.frames if f["type"] == "event"]
