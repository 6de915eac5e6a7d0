"""Reaching a device's open sockets through the channel layer."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

CLOSE_REVOKED = 4001


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
