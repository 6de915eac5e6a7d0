"""The tunnel's actions: keep fragments until a request is whole, refuse stale or replayed
frames, run the client protocol operation through the same services as the API, keep the
sealed answer until the client has fetched it.

Everything kept is ciphertext in the cache (Redis in production) with a short expiry, so
half-received requests cannot pile up. Nothing here logs a name, a frame or a token.

Abuse limit per tunnel session (TALKEE_TUNNEL_SESSION_RATE): a session is the client's
ephemeral X25519 key, known only once a request is whole, authenticates and is fresh
(not replayed, not stale: whoever saw a frame cannot spend its session's share). Then the
request is charged every query name it took (`total` fragments) to that key, and each
answer chunk fetched later is charged to the key whose answer it is. A session over its
rate gets REFUSED; a request that never completes or does not authenticate is charged to
no session (the gateway's per-address flood guard still counted each of its queries).
"""

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from blake3 import blake3
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import ValidationError

from apps.accounts.models import Session
from apps.accounts.selectors import session_for_token
from apps.core import metrics
from apps.core.errors import ServiceError, describe_validation_error, error_body
from apps.core.ratelimit import aover_rate
from apps.messages import services as message_services
from apps.messages.requests import validated_ack, validated_send
from apps.messages.sync import sync_page
from apps.transport import codec, sealing

_BUSY_POLL_SECONDS = 0.1


class Refused(Exception):
    """A frame that is garbage, tampered with, stale or replayed (DNS REFUSED)."""


class Unknown(Exception):
    """An answer chunk nobody has (expired, never made): DNS NXDOMAIN."""


class Busy(Exception):
    """The same request is still being answered elsewhere (DNS SERVFAIL: retry)."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


def _key(kind: str, rid: str, seq: int | None = None) -> str:
    return f"tunnel:{kind}:{rid}" if seq is None else f"tunnel:{kind}:{rid}:{seq}"


def _ttl() -> int:
    return int(settings.TALKEE_TUNNEL_FRAGMENT_TTL_SECONDS)


# A finished answer in the cache: (the session it belongs to, its chunks).
Stored = tuple[str, list[bytes]]


def session_tag(client_pk: bytes) -> str:
    """What names a tunnel session in the cache: a hash of its key, never the key."""
    return blake3(b"tunnel-session:" + client_pk).hexdigest()[:32]


async def charge_session(tag: str, cost: int) -> None:
    """Count `cost` queries of one session; Refused once it is over its rate."""
    if await aover_rate("tunnel-session", tag, settings.TALKEE_TUNNEL_SESSION_RATE, cost):
        raise Refused()


async def answer_upload(fragment: codec.Upload) -> list[str]:
    """Keep one fragment; once the last one arrives, run the request and answer its first chunk."""
    last = fragment.seq == fragment.total - 1
    stored: Stored | None = await cache.aget(_key("ans", fragment.rid))
    if stored is not None:
        # A resolver retrying a name it already had answered: not charged again.
        return _txt(stored[1], 0) if last else ["ok"]
    # A request holds at most MAX_FRAGMENTS names of at most 253 characters, for at most
    # the fragment TTL: what a half-received request can cost is bounded.
    await cache.aset(_key("frag", fragment.rid, fragment.seq), fragment.data, _ttl())
    if not last:
        return ["ok"]
    keys = [_key("frag", fragment.rid, seq) for seq in range(fragment.total)]
    parts = await cache.aget_many(keys)
    if len(parts) != fragment.total:
        # A resolver's retry of the last name can land just as the first copy finishes the
        # request (its answer kept, then its fragments dropped): answer it, not "missing".
        stored = await cache.aget(_key("ans", fragment.rid))
        return _txt(stored[1], 0) if stored is not None else ["missing"]
    text = "".join(parts[k] for k in keys)
    if len(text) * 5 // 8 > settings.TALKEE_TUNNEL_MAX_REQUEST_BYTES:
        raise Refused()
    if not await cache.aadd(_key("busy", fragment.rid), 1, _ttl()):
        return _txt(await _wait_for_answer(fragment.rid), 0)
    try:
        reply, tag = await answer_frame(codec.b32decode(text), cost=fragment.total)
    except (Refused, codec.CodecError):
        await cache.adelete(_key("busy", fragment.rid))
        raise Refused() from None
    chunks = codec.reply_chunks(reply)
    await cache.aset(_key("ans", fragment.rid), (tag, chunks), _ttl())
    await cache.adelete_many(keys)
    return _txt(chunks, 0)


async def answer_download(download: codec.Download) -> list[str]:
    stored: Stored | None = await cache.aget(_key("ans", download.rid))
    if stored is None or download.seq >= len(stored[1]):
        raise Unknown()
    await charge_session(stored[0], 1)
    return _txt(stored[1], download.seq)


def _txt(chunks: list[bytes], seq: int) -> list[str]:
    return codec.txt_strings(seq, len(chunks), chunks[seq])


async def _wait_for_answer(rid: str) -> list[bytes]:
    deadline = time.monotonic() + settings.TALKEE_TUNNEL_MAX_WAIT_SECONDS + 3
    while time.monotonic() < deadline:
        await asyncio.sleep(_BUSY_POLL_SECONDS)
        stored: Stored | None = await cache.aget(_key("ans", rid))
        if stored is not None:
            return stored[1]
    raise Busy()


async def check_fresh(request: sealing.OpenedRequest, ts: Any) -> None:
    """Refuse a frame from too far in the past or future, and any counter seen before
    for this client key (remembered as long as a frame's timestamp stays acceptable)."""
    skew = settings.TALKEE_TUNNEL_MAX_SKEW_SECONDS
    if not isinstance(ts, int | float) or isinstance(ts, bool) or abs(time.time() - ts) > skew:
        raise Refused()
    seen = blake3(request.client_pk + request.counter.to_bytes(8, "big")).hexdigest()
    if not await cache.aadd(f"tunnel:seen:{seen}", 1, 2 * skew + 60):
        raise Refused()


async def answer_frame(frame: bytes, cost: int = 1) -> tuple[bytes, str]:
    """Open a request frame, check it is fresh, charge its session `cost` queries, run it
    and seal the reply; returns the reply and the session's tag."""
    try:
        request = sealing.open_request(frame)
    except sealing.SealError:
        raise Refused() from None
    try:
        op = json.loads(request.plaintext)
    except (ValueError, RecursionError):
        op = None
    if not isinstance(op, dict):
        raise Refused()
    await check_fresh(request, op.get("ts"))
    # Charged only once fresh: a replayed frame (anyone on the path saw it) cannot spend its
    # session's share. A request refused for its rate has used its counter: seal it anew.
    tag = session_tag(request.client_pk)
    await charge_session(tag, cost)
    reply = await run_operation(op)
    body = json.dumps({"status": reply.status, "body": reply.body}, separators=(",", ":"))
    return sealing.seal_reply(request, body.encode()), tag


async def run_operation(op: dict[str, Any]) -> Reply:
    """One client protocol operation, answered like the HTTP API would (same services,
    same error shape)."""
    token = op.get("token")
    session = await database_sync_to_async(session_for_token)(token) if isinstance(token, str) else None
    if session is None:
        return Reply(401, error_body("unauthenticated", "Authentication credentials were not provided or are invalid."))
    try:
        match op.get("op"):
            case "sync":
                return await _sync(session, op)
            case "ack":
                data = validated_ack(op)
                cursor = await database_sync_to_async(message_services.do_ack)(session.device_id, data["cursor"])
                return Reply(200, {"cursor": cursor})
            case "send":
                return await _send(session, op)
            case _:
                return Reply(400, error_body("unknown_operation", "The tunnel carries sync, ack and send."))
    except ValidationError as exc:
        return Reply(400, error_body("invalid_input", describe_validation_error(exc.detail)))
    except ServiceError as exc:
        return Reply(exc.status, error_body(exc.code, exc.message))


async def _sync(session: Session, op: dict[str, Any]) -> Reply:
    cursor, timeout = op.get("cursor", 0), op.get("timeout", 0)
    if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0:
        return Reply(400, error_body("invalid_input", "cursor must be a non-negative integer."))
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout < 0:
        return Reply(400, error_body("invalid_input", "timeout must be a number of seconds."))
    wait = min(float(timeout), settings.TALKEE_TUNNEL_MAX_WAIT_SECONDS)
    return Reply(200, await sync_page(session, cursor, wait, limit=settings.TALKEE_TUNNEL_SYNC_FRAMES))


async def _send(session: Session, op: dict[str, Any]) -> Reply:
    try:
        chat_id = uuid.UUID(op.get("chat_id") or "")
    except (TypeError, ValueError, AttributeError):
        return Reply(400, error_body("invalid_input", "chat_id must be a UUID."))
    data = validated_send(op)
    sent = await database_sync_to_async(message_services.do_send_message)(session.user_id, chat_id, **data)
    metrics.MESSAGES_ACCEPTED.labels(via="dns").inc(int(sent.created or sent.forwarded))
    return Reply(201 if sent.created else 200, {"id": sent.id, "seq": sent.seq})
