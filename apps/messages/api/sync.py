"""`GET /v1/sync?cursor=&timeout=`: the long-poll fallback for clients whose WebSocket is
blocked. Same rows, same frames, same order as the socket's replay; waits on the
channel layer (no polling loop against the database) until something arrives."""

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.http import HttpRequest, JsonResponse

from apps.accounts.models import Session
from apps.accounts.selectors import session_for_token
from apps.chats.selectors import chat_ids_of
from apps.devices.realtime import device_group, mark_device_live
from apps.messages import selectors
from apps.messages.delivery import chat_group
from talkee.errors import error_body

logger = logging.getLogger("talkee.sync")
MAX_TIMEOUT = 60.0


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


async def _session(request: HttpRequest) -> Session | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return await sync_to_async(session_for_token)(token.strip())


def _page(session: Session, cursor: int, limit: int | None) -> dict[str, Any]:
    mark_device_live(session.device_id)  # a long-polling device needs no push
    start = selectors.effective_cursor(session.device_id, cursor)
    page = selectors.stream_after(session.user_id, session.device_id, start, limit=limit)
    return {"events": page.frames, "cursor": page.upto, "more": page.more}


async def sync_page(session: Session, cursor: int, timeout: float, *, limit: int | None = None) -> dict[str, Any]:
    """The frames after `cursor` (at most `limit` rows per source), waiting up to `timeout`
    seconds on the channel layer when there are none. Shared by `GET /v1/sync` and the
    DNS tunnel (apps/transport)."""
    layer = get_channel_layer()
    channel = await layer.new_channel() if layer is not None and timeout > 0 else None
    groups: list[str] = []
    try:
        if channel is not None:
            # Subscribe first, then read: an event committed in between still wakes us.
            groups = [device_group(session.device_id)] + [
                chat_group(c) for c in await sync_to_async(chat_ids_of)(session.user_id)
            ]
            for group in groups:
                await layer.group_add(group, channel)
        answer = await sync_to_async(_page)(session, cursor, limit)
        if answer["events"] or channel is None:
            return answer
        try:
            await asyncio.wait_for(layer.receive(channel), timeout=timeout)
        except TimeoutError:
            return answer
        return await sync_to_async(_page)(session, cursor, limit)
    finally:
        for group in groups:
            await layer.group_discard(group, channel)


async def sync_view(request: HttpRequest) -> JsonResponse:
    if request.method != "GET":
        response = _error(405, "method_not_allowed", "Use GET.")
        response["Allow"] = "GET"
        return response
    session = await _session(request)
    if session is None:
        response = _error(401, "unauthenticated", "Authentication credentials were not provided or are invalid.")
        response["WWW-Authenticate"] = 'Bearer realm="talkee"'
        return response
    try:
        cursor = int(request.GET.get("cursor", "0"))
        timeout = min(float(request.GET.get("timeout", "25")), MAX_TIMEOUT)
        if cursor < 0 or timeout < 0:
            raise ValueError
    except ValueError:
        return _error(400, "invalid_input", "cursor must be a non-negative integer and timeout a number of seconds.")
    return JsonResponse(await sync_page(session, cursor, timeout))
