import asyncio
import json

import pytest
from rest_framework.test import APIClient

from apps.core.errors import ServiceError
from apps.devices.models import Device, KeyPackage, RevokedDevice
from apps.messages import services as message_services
from apps.messages.models import DeviceCursor
from tests.conftest import DeviceKeys, b64, fake_keypackage, login
from tests.support.sockets import close_code, open_socket


async def next_of_type(socket, kind: str) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
        if frame["type"] == kind:
            return frame


@pytest.mark.django_db(transaction=True)
def test_revoke_cascades_and_kicks_the_open_socket(make_account, live_server_daphne) -> None:
    alice = make_account()
    laptop = alice
    phone = login(APIClient(), alice.username, alice.password, DeviceKeys())
    phone_token, phone_id = phone.json()["token"], phone.json()["device_id"]
    phone_client = APIClient()
    phone_client.credentials(HTTP_AUTHORIZATION=f"Bearer {phone_token}")
    assert (
        phone_client.post("/v1/keypackages", {"keypackages": [b64(fake_keypackage())] * 3}, format="json").status_code
        == 201
    )

    async def scenario() -> tuple[int, str]:
        phone_socket = await open_socket(live_server_daphne.ws_url, phone_token)
        laptop_socket = await open_socket(live_server_daphne.ws_url, laptop.token)
        revoke = await asyncio.to_thread(laptop.client.delete, f"/v1/devices/{phone_id}")
        assert revoke.status_code == 204
        code = await close_code(phone_socket)
        await laptop_socket.send(json.dumps({"type": "ping"}))
        still_there = (await next_of_type(laptop_socket, "pong"))["type"]
        await laptop_socket.close()
        return code, still_there

    code, laptop_answer = asyncio.run(scenario())
    assert code == 4001
    assert laptop_answer == "pong"
    assert not Device.objects.filter(pk=phone_id).exists()
    assert KeyPackage.objects.filter(device_id=phone_id).count() == 0
    assert phone_client.get("/v1/devices").status_code == 401
    assert [d["id"] for d in laptop.client.get("/v1/devices").json()] == [laptop.device_id]
    assert RevokedDevice.objects.count() == 1


@pytest.mark.django_db
def test_revoked_device_can_never_log_in_as_itself(make_account) -> None:
    alice = make_account()
    phone_keys = DeviceKeys()
    phone = login(APIClient(), alice.username, alice.password, phone_keys).json()
    assert alice.client.delete(f"/v1/devices/{phone['device_id']}").status_code == 204
    again = login(APIClient(), alice.username, alice.password, phone_keys)
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "device_revoked"


@pytest.mark.django_db
def test_only_the_owner_can_revoke(make_account) -> None:
    alice = make_account()
    mallory = make_account()
    response = mallory.client.delete(f"/v1/devices/{alice.device_id}")
    assert response.status_code == 404
    assert Device.objects.filter(pk=alice.device_id).exists()


@pytest.mark.django_db(transaction=True)
def test_an_ack_racing_the_revoke_is_refused_not_a_crash(make_account) -> None:
    """A revoked device's socket may still send an ack before the kick reaches it: the
    cursor row is gone with the device, and the ack is refused as device_revoked."""
    alice = make_account()
    phone = login(APIClient(), alice.username, alice.password, DeviceKeys()).json()
    assert alice.client.delete(f"/v1/devices/{phone['device_id']}").status_code == 204
    with pytest.raises(ServiceError) as refused:
        message_services.do_ack(phone["device_id"], 1)
    assert refused.value.code == "device_revoked"
    assert not DeviceCursor.objects.filter(device_id=phone["device_id"]).exists()
