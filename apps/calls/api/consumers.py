"""The Janus proxy on the instance's own origin (/v1/group-call/ws), so the app's CSP stays
`connect-src 'self'` and Janus itself is never exposed.

The first frame is `{"talkee": "ticket", "ticket": "..."}` (from POST
/v1/chats/{chat}/group-call). Afterwards every frame is a Janus request, passed on with the
connection's own Janus token added, and only if it is one a VideoRoom participant of the
ticket's room needs; Janus's answers and events come back unchanged. Refusals of the
ticket close the socket with 4403 after a `{"talkee": "refused"}` frame.
"""

import asyncio
import contextlib
import json
import logging
import secrets
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from apps.calls import group, janus

logger = logging.getLogger("talkee.calls")

SUBPROTOCOL = "janus-protocol"
REFUSED = 4403
UNAVAILABLE = 4503
MAX_FRAME_BYTES = 64 * 1024
# Requests a participant makes: sessions, the VideoRoom handle, its messages and ICE.
JANUS_REQUESTS = {"create", "attach", "message", "trickle", "keepalive", "detach", "hangup", "destroy"}
VIDEOROOM_REQUESTS = {
    "join",
    "configure",
    "publish",
    "unpublish",
    "start",
    "pause",
    "switch",
    "update",
    "subscribe",
    "unsubscribe",
    "leave",
    "listparticipants",
}


def allowed(request: Any, room: int) -> str | None:
    """Why a client's Janus request may not pass (None: it may)."""
    if not isinstance(request, dict):
        return "not a Janus request"
    if request.get("janus") not in JANUS_REQUESTS:
        return "request not allowed"
    if any(k in request for k in ("admin_secret", "apisecret", "token")):
        return "credentials are added by the proxy"
    if request["janus"] == "attach" and request.get("plugin") != janus.VIDEOROOM:
        return "only the VideoRoom plugin"
    if request["janus"] == "message":
        body = request.get("body")
        if not isinstance(body, dict) or body.get("request") not in VIDEOROOM_REQUESTS:
            return "VideoRoom request not allowed"
        if body["request"] in ("join", "listparticipants") and body.get("room") != room:
            return "another room"
        if "room" in body and body["room"] != room:
            return "another room"
    return None


class JanusProxyConsumer(AsyncWebsocketConsumer):
    room: int = 0
    token: str | None = None
    upstream: ClientConnection | None = None
    pump: asyncio.Task[None] | None = None
    watch: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        if not janus.enabled():
            await self.close(code=UNAVAILABLE)
            return
        offered = self.scope.get("subprotocols") or []
        await self.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)

    async def refuse(self, code: str) -> None:
        await self.send(text_data=json.dumps({"talkee": "refused", "code": code}))
        await self.close(code=REFUSED)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_FRAME_BYTES:
            await self.refuse("bad_frame")
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            await self.refuse("bad_frame")
            return
        if self.upstream is None:
            await self.open(message)
            return
        why = allowed(message, self.room)
        if why is not None:
            await self.send(
                text_data=json.dumps(
                    {
                        "janus": "error",
                        "transaction": message.get("transaction") if isinstance(message, dict) else None,
                        "error": {"code": 403, "reason": why},
                    }
                )
            )
            return
        message["token"] = self.token
        try:
            await self.upstream.send(json.dumps(message))
        except WebSocketException:
            await self.close(code=UNAVAILABLE)

    async def open(self, message: Any) -> None:
        if not isinstance(message, dict) or message.get("talkee") != "ticket":
            await self.refuse("ticket_required")
            return
        grant = await database_sync_to_async(group.consume_ticket)(message.get("ticket"))
        if grant is None:
            await self.refuse("ticket_invalid")
            return
        token = secrets.token_urlsafe(32)
        try:
            await asyncio.to_thread(janus.add_token, token)
            self.token = token
            self.upstream = await connect(settings.TALKEE_JANUS_URL, subprotocols=[SUBPROTOCOL])  # type: ignore[list-item]
        except (janus.JanusUnavailable, OSError, WebSocketException):
            logger.warning("group call: Janus unavailable")
            await self.close(code=UNAVAILABLE)
            return
        self.room = grant.room
        self.pump = asyncio.create_task(self.relay(self.upstream))
        if settings.TALKEE_GROUP_CALL_MEMBER_CHECK_SECONDS > 0:
            self.watch = asyncio.create_task(self.watch_membership(grant))
        await self.send(text_data=json.dumps({"talkee": "ready", "room": grant.room}))

    async def relay(self, upstream: ClientConnection) -> None:
        try:
            async for frame in upstream:
                await self.send(text_data=frame if isinstance(frame, str) else frame.decode())
        except WebSocketException:
            pass
        with contextlib.suppress(Exception):
            await self.close(code=UNAVAILABLE)

    async def watch_membership(self, grant: group.TicketGrant) -> None:
        """Someone removed from the chat during the call loses the connection to Janus."""
        while True:
            await asyncio.sleep(settings.TALKEE_GROUP_CALL_MEMBER_CHECK_SECONDS)
            if not await database_sync_to_async(group.still_member)(grant):
                await self.send(text_data=json.dumps({"talkee": "refused", "code": "not_a_member"}))
                await self.close(code=REFUSED)
                return

    async def disconnect(self, code: int) -> None:
        for task in (self.pump, self.watch):
            if task is not None:
                task.cancel()
        if self.upstream is not None:
            with contextlib.suppress(Exception):
                await self.upstream.close()
        if self.token is not None:
            token, self.token = self.token, None
            try:
                await asyncio.to_thread(janus.remove_token, token)
            except janus.JanusUnavailable:
                logger.warning("group call: a Janus token could not be removed")
