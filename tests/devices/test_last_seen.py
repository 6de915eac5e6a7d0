"""A device's "last seen" (Settings → Your devices) follows its use — sockets and API calls
— to the hour only, so the server keeps no trail of when someone opens the app."""

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.devices.models import Device
from tests.support.sockets import open_socket


def on_the_hour(moment) -> bool:
    return (moment.minute, moment.second, moment.microsecond) == (0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_last_seen_follows_sockets_and_requests_to_the_hour(make_account, live_server_daphne) -> None:
    alice = make_account()
    device = Device.objects.get(pk=alice.device_id)
    assert on_the_hour(device.last_seen) and on_the_hour(device.created.replace(minute=0, second=0, microsecond=0))
    this_hour = timezone.now().replace(minute=0, second=0, microsecond=0)

    # Last used three hours ago; opening a socket marks it seen this hour.
    Device.objects.filter(pk=device.pk).update(last_seen=this_hour - timedelta(hours=3))

    async def connect() -> None:
        socket = await open_socket(live_server_daphne.ws_url, alice.token)
        await socket.close()

    asyncio.run(connect())
    seen = Device.objects.get(pk=device.pk).last_seen
    assert seen >= this_hour and on_the_hour(seen)

    # The same through the API (long-poll and DNS-tunnel clients never open a socket).
    Device.objects.filter(pk=device.pk).update(last_seen=this_hour - timedelta(hours=5))
    listed = alice.client.get("/v1/devices").json()
    seen = Device.objects.get(pk=device.pk).last_seen
    assert seen >= this_hour and on_the_hour(seen)
    assert [d["last_seen"] for d in listed if d["id"] == device.pk] != [None]
