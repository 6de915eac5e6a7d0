"""Reaching a device's open sockets through the channel layer."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache

CLOSE_REVOKED = 4001
# The person ended this device's session from another of their devices: the client must not
# sign itself in again with the password it holds, only when the person types it.
CLOSE_SIGNED_OUT = 4002
# The account was deleted (from one of its devices): the client wipes this device's vault.
CLOSE_ACCOUNT_DELETED = 4004


def device_group(device_id: int) -> str:
    """The channel-layer group every socket of one device joins."""
    return f"device.{device_id}"


def kick_devices(device_ids: list[int], code: int = CLOSE_REVOKED) -> None:
    """Close every open socket of these devices at once."""
    layer = get_channel_layer()
    if layer is None or not device_ids:
        return

    async def _send() -> None:
        for device_id in device_ids:
            await layer.group_send(device_group(device_id), {"type": "device.kick", "code": code})

    async_to_sync(_send)()


# A device counts as live (push notifications skip it) while one of its sockets or
# long-polls was heard from within this many seconds; clients ping every 20 s.
LIVE_SECONDS = 60


def _live_key(device_id: int) -> str:
    return f"live-device:{device_id}"


def mark_device_live(device_id: int, seconds: int = LIVE_SECONDS) -> None:
    """A socket or long-poll of this device was just heard from."""
    cache.set(_live_key(device_id), 1, timeout=seconds)


async def amark_device_live(device_id: int, seconds: int = LIVE_SECONDS) -> None:
    await cache.aset(_live_key(device_id), 1, timeout=seconds)


async def amark_device_gone(device_id: int) -> None:
    """A socket closed. Another tab of the same device re-marks it at its next ping."""
    await cache.adelete(_live_key(device_id))


def live_device_ids(device_ids: list[int]) -> set[int]:
    """Which of these devices have a live socket or a recent long-poll."""
    if not device_ids:
        return set()
    found = cache.get_many([_live_key(d) for d in device_ids])
    return {d for d in device_ids if _live_key(d) in found}
