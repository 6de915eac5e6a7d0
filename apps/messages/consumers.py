"""The device WebSocket at /v1/ws: thin — parse, authorise, call a service, reply.

First frame `{"type": "auth", "token": ..., "cursor": N}`. The server answers `ready`,
replays every row after the cursor in order, says `synced`, then forwards live frames.
Client frames: send, ack, typing, presence, call, ping.

Live frames come from the channel layer pre-serialised; forwarding them touches no ORM
and skips Channels' per-message connection cleanup (PERFORMANCE.md). A frame already
sent during replay is not sent again.
"""

import asyncio
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.accounts.selectors import SocketSession, socket_session_for_token
from apps.chats.selectors import socket_chats_of
from apps.core import metrics
from apps.core.errors import DEPENDENCY_ERRORS, UNAVAILABLE, ServiceError, describe_validation_error
from apps.devices.realtime import amark_device_gone, amark_device_live, device_group, mark_device_live
from apps.devices.services import do_touch_device
from apps.messages import selectors, services
from apps.messages.api.serializers import SendSerializer
from apps.messages.delivery import chat_group, encode
from apps.messages.federation import relay_call_signal
from apps.messages.signals import call_signalled

logger = logging.getLogger("talkee.ws")

CLOSE_REVOKED = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_BAD_FRAME = 4008
CLOSE_LAYER_DEAF = 4012  # live frames stopped reaching this socket, or a service is restarting: reconnect
# Handshake messages reach 16 MiB; base64 and the JSON envelope add about a third.
MAX_FRAME_CHARS = 23 * 1024 * 1024


def in_db_thread(func: Any) -> Any:
    """Run ORM work in the thread pool, not on Channels' single shared thread: sockets
    then wait on the database side by side instead of one after another."""
    return database_sync_to_async(func, thread_sensitive=False)


def _open_session(token: str) -> SocketSession | None:
    """The socket's session (or None), its device marked as in use: one thread hop."""
    session = socket_session_for_token(token)
    if session is not None:
        do_touch_device(session.device_id, session.device_last_seen)
        mark_device_live(session.device_id)
    return session


# What the server raises when a frame goes to a socket that is closing: daphne (autobahn)
# its Disconnected, uvicorn its ClientDisconnected (an OSError; uvicorn is not installed
# everywhere, requirements/prod.txt).
SOCKET_GONE = (Disconnected, OSError)

# Events forwarded straight to the socket, without Channels' ORM connection cleanup.
FAST_EVENTS = frozenset({"chat.frame", "chat.signal", "layer.beat"})


class DeviceSocketConsumer(AsyncWebsocketConsumer):
    device_id: int | None = None
    user_id: int | None = None
    username: str = ""
    counted = False  # in talkee_sockets_open
    closing = False  # closed by us or going on the device's side: nothing more is sent

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.chat_ids: set[str] = set()
        self.presence_chat_ids: set[str] = set()
        self.joined_seq: dict[str, int] = {}  # a member sees nothing about messages before they joined
        self.horizon = 0  # everything relevant up to here went out during replay
        self.delivered: set[int] = set()  # live positions sent after the horizon
        self.acked = 0
        self.last_typing: dict[str, float] = {}
        self.last_presence = 0.0
        self._auth_timer: asyncio.Task[None] | None = None
        self._layer_watch: asyncio.Task[None] | None = None
        self._beat = asyncio.Event()
        await super().websocket_connect(message)

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] in FAST_EVENTS:
            await getattr(self, message["type"].replace(".", "_"))(message)
            return
        # Channels would first run `close_old_connections` in its shared sync thread (one
        # thread hop per message, two per connect). This consumer never uses that thread:
        # all its ORM work goes through `in_db_thread`, whose DatabaseSyncToAsync closes
        # old connections in the worker thread itself, before and after each call.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        await self.accept()
        metrics.SOCKETS_OPEN.inc()
        self.counted = True
        self._auth_timer = asyncio.ensure_future(self._close_if_silent())

    async def _close_if_silent(self) -> None:
        await asyncio.sleep(settings.TALKEE_WS_AUTH_TIMEOUT_SECONDS)
        if self.device_id is None:
            await self.send_frame({"type": "error", "code": "auth_timeout", "message": "No auth frame received."})
            await self.close(code=CLOSE_FORBIDDEN)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        # Channels' own version also runs `close_old_connections` in its shared thread (see
        # `dispatch`) and discards `self.groups`, which this consumer does not use.
        self.closing = True
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def disconnect(self, code: int) -> None:
        if self.counted:
            metrics.SOCKETS_OPEN.dec()
            self.counted = False
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        if self._layer_watch is not None:
            self._layer_watch.cancel()
        if self.device_id is None:
            return
        try:
            await self.channel_layer.group_discard(device_group(self.device_id), self.channel_name)
            await amark_device_gone(self.device_id)
            for chat_id in self.chat_ids:
                await self.channel_layer.group_discard(chat_group(chat_id), self.channel_name)
            await self._announce_presence("offline")
        except DEPENDENCY_ERRORS as exc:  # Redis or PostgreSQL restarting: nothing to keep
            logger.warning("socket closed during an outage", extra={"error_type": type(exc).__name__})

    # --- the way out: every frame and the close go through these two --------------------
    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        """A socket can go at any moment, also while a frame is on its way to it (a tab
        closed mid-typing, a dropped link, a kicked device). That is normal use, not an
        error: the frame is dropped — the device resumes from its cursor — and nothing is
        logged (an exception here would end the consumer with a traceback in the log)."""
        if self.closing:
            return
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except SOCKET_GONE:
            self.closing = True

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        if self.closing:
            return
        self.closing = True
        try:
            await super().close(code=code, reason=reason)
        except SOCKET_GONE:
            pass

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=encode(frame))

    async def send_error(self, code: str, message: str, **extra: Any) -> None:
        await self.send_frame({"type": "error", "code": code, "message": message, **extra})

    # --- client frames --------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = self._parse(text_data)
        if frame is None:
            await self.send_error("bad_frame", "Frames are JSON objects with a string 'type'.")
            await self.close(code=CLOSE_BAD_FRAME)
            return
        kind = frame["type"]
        if self.device_id is None:
            if kind != "auth":
                await self.send_error("unauthenticated", "The first frame must be auth.")
                await self.close(code=CLOSE_FORBIDDEN)
                return
            try:
                await self.on_auth(frame)
            except DEPENDENCY_ERRORS as exc:
                # PostgreSQL or Redis restarting: come back in a moment (the client reconnects).
                logger.warning("a service the socket needs is unavailable", extra={"error_type": type(exc).__name__})
                await self.send_error(*UNAVAILABLE)
                await self.close(code=CLOSE_LAYER_DEAF)
            return
        handler = getattr(self, f"on_{kind}", None) if kind in self.client_frames else None
        if handler is None:
            await self.send_error("unknown_type", f"Unknown frame type {kind!r}.")
            return
        try:
            await handler(frame)
        except ServiceError as exc:
            await self.send_error(exc.code, exc.message, **self._echo(frame))
            if exc.code == "device_revoked":
                await self.close(code=CLOSE_REVOKED)
        except DEPENDENCY_ERRORS as exc:
            # PostgreSQL or Redis restarting: this frame is answered "try again" (a send
            # stays in the client's outbox; an ack comes again), the socket stays.
            logger.warning(
                "a service the socket needs is unavailable", extra={"frame": kind, "error_type": type(exc).__name__}
            )
            await self.send_error(*UNAVAILABLE, **self._echo(frame))

    client_frames = frozenset({"ping", "send", "ack", "typing", "presence", "call"})

    @staticmethod
    def _echo(frame: dict[str, Any]) -> dict[str, Any]:
        cmid = frame.get("client_message_id")
        return {"client_message_id": cmid} if isinstance(cmid, str) else {}

    @staticmethod
    def _parse(text_data: str | None) -> dict[str, Any] | None:
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            return None
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            return None
        return frame

    async def on_auth(self, frame: dict[str, Any]) -> None:
        token = frame.get("token")
        requested = frame.get("cursor")
        if requested is not None and (not isinstance(requested, int) or isinstance(requested, bool) or requested < 0):
            await self.send_error("invalid_input", "cursor must be a non-negative integer.")
            await self.close(code=CLOSE_BAD_FRAME)
            return
        session = await in_db_thread(_open_session)(token) if isinstance(token, str) else None
        if session is None:
            await self.send_error("unauthenticated", "Invalid token.")
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        self.device_id, self.user_id, self.username = session.device_id, session.user_id, session.username
        # Join the live groups before reading the replay, so nothing falls between them.
        await self.channel_layer.group_add(device_group(self.device_id), self.channel_name)
        chats = await in_db_thread(socket_chats_of)(self.user_id)
        self.chat_ids = set(chats)
        self.joined_seq = {chat_id: joined for chat_id, (_, joined) in chats.items()}
        # Presence goes to small chats only: in a group of N, N sockets coming online
        # would otherwise cost N² frames (and a big group shows no one's presence anyway).
        self.presence_chat_ids = {c for c, (n, _) in chats.items() if n <= settings.TALKEE_PRESENCE_MAX_MEMBERS}
        for chat_id in self.chat_ids:
            await self.channel_layer.group_add(chat_group(chat_id), self.channel_name)
        # The cursor and the replay's first page in one hop, read after the joins above.
        cursor, page = await in_db_thread(selectors.resume)(self.user_id, self.device_id, requested)
        self.acked = cursor
        await self.send_frame({"type": "ready", "device_id": self.device_id, "user": self.username, "cursor": cursor})
        await self._replay(page)
        await self._announce_presence("online")
        self._layer_watch = asyncio.ensure_future(self._watch_the_layer())

    async def _replay(self, page: selectors.StreamPage) -> None:
        assert self.user_id is not None and self.device_id is not None
        while True:
            for frame in page.frames:
                await self.send_frame(frame)
            if not page.more:
                break
            page = await in_db_thread(selectors.stream_after)(self.user_id, self.device_id, page.upto, upto=page.end)
        self.horizon = page.upto
        await self.send_frame({"type": "synced", "cursor": self.horizon})

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong"})
        assert self.device_id is not None
        await amark_device_live(self.device_id)

    async def on_send(self, frame: dict[str, Any]) -> None:
        serializer = SendSerializer(data=frame)
        chat_id = frame.get("chat_id")
        if not serializer.is_valid() or not isinstance(chat_id, str):
            message = describe_validation_error(serializer.errors) if serializer.errors else "chat_id is required."
            await self.send_error("invalid_input", message, **self._echo(frame))
            return
        data = dict(serializer.validated_data)
        try:
            chat_uuid = uuid.UUID(chat_id)
        except ValueError:
            await self.send_error("invalid_input", "chat_id must be a UUID.", **self._echo(frame))
            return
        assert self.user_id is not None
        sent = await in_db_thread(services.do_send_message)(self.user_id, chat_uuid, **data)
        metrics.MESSAGES_ACCEPTED.labels(via="socket").inc(int(sent.created or sent.forwarded))
        answer = {"type": "sent", "client_message_id": data["client_message_id"], "id": sent.id, "seq": sent.seq}
        if sent.forwarded:
            answer["forwarded"] = True
        await self.send_frame(answer)

    async def on_ack(self, frame: dict[str, Any]) -> None:
        position = frame.get("cursor")
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            await self.send_error("invalid_input", "ack needs a non-negative integer cursor.")
            return
        if position <= self.acked:
            return
        assert self.user_id is not None and self.device_id is not None
        # A live frame may overtake an older one published by another server process;
        # never acknowledge past a relevant position this socket has not delivered.
        safe = position
        if position > self.horizon:
            expected = await in_db_thread(selectors.relevant_positions)(
                self.user_id, self.device_id, max(self.horizon, self.acked), position
            )
            missing = [p for p in expected if p not in self.delivered]
            if missing:
                safe = missing[0] - 1
                # Their live frames were lost (the layer was down when they were published):
                # send them now from the database, so this socket heals without a reconnect.
                await self._resend(missing[0] - 1, position)
        if safe > self.acked:
            self.acked = await in_db_thread(services.do_ack)(self.device_id, safe)
            self.delivered = {p for p in self.delivered if p > self.acked}

    async def _resend(self, after: int, upto: int | None = None) -> None:
        """Every relevant row in (after, upto] (upto: the stream's end now) this socket has
        not sent, from the database."""
        assert self.user_id is not None and self.device_id is not None
        while upto is None or after < upto:
            page = await in_db_thread(selectors.stream_after)(self.user_id, self.device_id, after, upto=upto)
            for frame in page.frames:
                if frame["cursor"] not in self.delivered:
                    self.delivered.add(frame["cursor"])
                    await self.send_frame(frame)
            if not page.more:
                break
            after, upto = page.upto, page.end

    async def _watch_the_layer(self) -> None:
        """Live frames ride pub/sub: while Redis restarts, publishes fail and this socket's
        subscription may stay broken after it is back. Every few seconds the socket sends
        itself a beat through the layer. A beat that does not come back means frames may
        have been lost: they are sent from the database — and again once beats return (the
        frames published while the subscription was coming back). A layer still deaf after
        that closes the socket (4012): the device reconnects, which subscribes anew."""
        interval = settings.TALKEE_WS_LAYER_CHECK_SECONDS
        deaf_rounds = 0
        while not self.closing:
            await asyncio.sleep(interval)
            self._beat.clear()
            try:
                await asyncio.wait_for(self._beat_round_trip(), timeout=min(5.0, interval))
                heard = True
            except Exception:  # the layer is down, hung or deaf (publish failed, beat never came)
                heard = False
            if heard and deaf_rounds == 0:
                continue
            try:
                await self._resend(max(self.horizon, self.acked))
            except Exception:  # the database may be restarting too: next round
                logger.warning("socket catch-up failed; next round", extra={"error_type": "catch_up"})
            if heard:
                deaf_rounds = 0
            else:
                deaf_rounds += 1
                if deaf_rounds >= 3:
                    await self.close(code=CLOSE_LAYER_DEAF)
                    return

    async def _beat_round_trip(self) -> None:
        await self.channel_layer.send(self.channel_name, {"type": "layer.beat"})
        await self._beat.wait()

    async def layer_beat(self, event: dict[str, Any]) -> None:
        self._beat.set()

    def _allowed_signal(self, frame: dict[str, Any]) -> str | None:
        chat_id = frame.get("chat_id")
        return chat_id if isinstance(chat_id, str) and chat_id in self.chat_ids else None

    async def on_typing(self, frame: dict[str, Any]) -> None:
        chat_id = self._allowed_signal(frame)
        if chat_id is None:
            await self.send_error("chat_not_found", "No such chat.")
            return
        now = time.monotonic()
        if now - self.last_typing.get(chat_id, 0.0) < settings.TALKEE_TYPING_INTERVAL_SECONDS:
            return  # rate-limited: typing is a hint, dropping one is harmless
        self.last_typing[chat_id] = now
        signal = {"type": "typing", "chat_id": chat_id, "user": self.username}
        await self.channel_layer.group_send(chat_group(chat_id), {"type": "chat.signal", "text": encode(signal)})

    async def on_presence(self, frame: dict[str, Any]) -> None:
        state = frame.get("state")
        if state not in ("online", "away", "offline"):
            await self.send_error("invalid_input", "presence state is online, away or offline.")
            return
        now = time.monotonic()
        if now - self.last_presence < settings.TALKEE_TYPING_INTERVAL_SECONDS:
            return
        self.last_presence = now
        await self._announce_presence(state)

    async def _announce_presence(self, state: str) -> None:
        """Presence goes only to the chats this user is in, and is never stored."""
        hour = datetime.now(tz=UTC).replace(minute=0, second=0, microsecond=0)
        signal = {
            "type": "presence",
            "user": self.username,
            "state": state,
            "last_seen": hour.isoformat() if state != "online" else None,
        }
        text = encode(signal)
        for chat_id in self.presence_chat_ids & self.chat_ids:
            await self.channel_layer.group_send(chat_group(chat_id), {"type": "chat.signal", "text": text})

    async def on_call(self, frame: dict[str, Any]) -> None:
        chat_id = self._allowed_signal(frame)
        payload = frame.get("payload")
        if chat_id is None:
            await self.send_error("chat_not_found", "No such chat.")
            return
        if not isinstance(payload, str) or len(payload) > settings.TALKEE_CALL_PAYLOAD_MAX_BYTES * 4 // 3 + 4:
            await self.send_error("invalid_input", "call payload must be base64 of at most 64 KiB.")
            return
        if await in_db_thread(services.signals_refused)(chat_id, self.user_id):
            await self.send_error("not_accepted", "This person does not accept calls from you.", chat_id=chat_id)
            return
        signal = {"type": "call", "chat_id": chat_id, "payload": payload}
        await self.channel_layer.group_send(chat_group(chat_id), {"type": "chat.signal", "text": encode(signal)})
        # members on other instances: through their instance (a `call` envelope each)
        await in_db_thread(relay_call_signal)(chat_id, payload)
        await in_db_thread(call_signalled.send)(sender=DeviceSocketConsumer, chat_id=chat_id, user_id=self.user_id)

    # --- channel-layer events ---------------------------------------------------------
    async def chat_frame(self, event: dict[str, Any]) -> None:
        position = int(event["cursor"])
        if position <= self.horizon or position in self.delivered:
            return
        seq = event.get("seq")
        if seq is not None and seq <= self.joined_seq.get(event.get("chat_id") or "", 0):
            return  # an edit, deletion or reaction of a message from before this member joined
        self.delivered.add(position)
        await self.send(text_data=event["text"])

    async def chat_signal(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])

    async def device_frame(self, event: dict[str, Any]) -> None:
        change = event.get("membership")
        chat_id = event.get("chat_id")
        if chat_id and change == "joined" and chat_id not in self.chat_ids:
            self.chat_ids.add(chat_id)
            self.joined_seq[chat_id] = int(event.get("joined_seq") or 0)
            if int(event.get("members") or 0) <= settings.TALKEE_PRESENCE_MAX_MEMBERS:
                self.presence_chat_ids.add(chat_id)
            await self.channel_layer.group_add(chat_group(chat_id), self.channel_name)
        elif chat_id and change == "left" and chat_id in self.chat_ids:
            self.chat_ids.discard(chat_id)
            await self.channel_layer.group_discard(chat_group(chat_id), self.channel_name)
        await self.chat_frame(event)

    async def device_kick(self, event: dict[str, Any]) -> None:
        """The device was revoked or its user blocked: close at once."""
        await self.close(code=int(event.get("code", 4001)))
