"""Long-poll: the frames after a device's cursor, waiting on the channel layer when there are
none. Shared by `GET /v1/sync` (api/sync.py) and the DNS tunnel (apps/transport)."""

import asyncio
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from apps.chats.selectors import chat_ids_of
from apps.core import metrics
from apps.devices.realtime import device_group, mark_device_live
from apps.messages import selectors
from apps.messages.delivery import chat_group

if TYPE_CHECKING:
    from apps.accounts.models import Session


def _page(session: "Session", cursor: int, limit: int | None) -> dict[str, Any]:
    mark_device_live(session.device_id)  # a long-polling device needs no push
    start = selectors.effective_cursor(session.device_id, cursor)
    page = selectors.stream_after(session.user_id, session.device_id, start, limit=limit)
    return {"events": page.frames, "cursor": page.upto, "more": page.more}


async def sync_page(session: "Session", cursor: int, timeout: float, *, limit: int | None = None) -> dict[str, Any]:
    """The frames after `cursor` (at most `limit` rows per source), waiting up to `timeout`
    seconds on the channel layer when there are none. Shared by `GET /v1/sync` and the
    DNS tunnel (apps/transport)."""
    metrics.SYNC_REQUESTS.labels(kind="long_poll" if timeout > 0 else "sync").inc()
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
