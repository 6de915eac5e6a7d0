"""The device WebSocket at /v1/ws: thin — parse, authorise, call a service, reply.

First frame `{"type": "auth", "token": ..., "cursor": N}`; then `ping`/`pong`. The
delivery service extends the frame set (send, ack, typing, presence, call).
"""

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.accounts.selectors import session_for_token
from apps.devices.services import device_group

logger = logging.getLogger("talkee.ws")

CLOSE_FORBIDDEN = 4003
CLOSE_BAD_FRAME = 4008
MAX_FRAME_CHARS = 23 * 1024 * 1024


class DeviceSocketConsumer(AsyncWebsocketConsumer):
    device_id: int | None = None
    user_id: int | None = None
    _auth_timer: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        await self.accept()
        self._auth_timer = asyncio.ensure_future(self._close_if_silent())

    async def _close_if_silent(self) -> None:
        await asyncio.sleep(settings.TALKEE_WS_AUTH_TIMEOUT_SECONDS)
        if self.device_id is None:
            await self.send_frame({"type": "error", "code": "auth_timeout", "message": "No auth frame received."})
            await self.close(code=CLOSE_FORBIDDEN)

    async def disconnect(self, code: int) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        if self.device_id is not None:
            await self.channel_layer.group_discard(device_group(self.device_id), self.channel_name)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = self._parse(text_data)
        if frame is None:
            await self.send_frame({"type": "error", "code": "bad_frame", "message": "Frames are JSON objects."})
            await self.close(code=CLOSE_BAD_FRAME)
            return
        kind = frame["type"]
        if self.device_id is None:
            if kind != "auth":
                await self.send_frame(
                    {"type": "error", "code": "unauthenticated", "message": "The first frame must be auth."}
                )
                await self.close(code=CLOSE_FORBIDDEN)
                return
            await self.on_auth(frame)
            return
        handler = getattr(self, f"on_{kind}", None) if kind in self.client_frames else None
        if handler is None:
            await self.send_frame({"type": "error", "code": "unknown_type", "message": f"Unknown frame type {kind!r}."})
            return
        await handler(frame)

    client_frames = frozenset({"ping"})

    @staticmethod
    def _parse(text_data: str | None) -> dict[str, Any] | None:
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            return None
        try:
            frame = json.loads(text_data)
        except ValueError:
            return None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            return None
        return frame

    async def on_auth(self, frame: dict[str, Any]) -> None:
        token = frame.get("token")
        session = await database_sync_to_async(session_for_token)(token) if isinstance(token, str) else None
        if session is None:
            await self.send_frame({"type": "error", "code": "unauthenticated", "message": "Invalid token."})
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.device_id = session.device_id
        self.user_id = session.user_id
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        await self.channel_layer.group_add(device_group(session.device_id), self.channel_name)
        await self.send_frame({"type": "ready", "device_id": session.device_id, "user": session.user.username})

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong"})

    # --- channel-layer events ------------------------------------------------------
    async def device_kick(self, event: dict[str, Any]) -> None:
        """The device was revoked or its user blocked: close at once."""
        await self.close(code=int(event.get("code", 4001)))
