"""Live frames ride an at-most-once pub/sub layer; the database and the cursor are the
truth. A frame that never arrives must not be acknowledged away: it is replayed."""

import asyncio

import pytest
from django.db import transaction

from apps.chats.models import Chat
from apps.messages.models import DeviceInbox, Message
from apps.messages.stream import allocate_position
from tests.conftest import make_chat, send
from tests.messages.wsclient import SocketDevice

pytestmark = pytest.mark.django_db(transaction=True)


def store_without_publishing(chat_id: str, text: bytes) -> int:
    """A message committed whose live frame is lost (as pub/sub may do under load)."""
    with transaction.atomic():
        chat = Chat.objects.select_for_update().get(pk=chat_id)
        seq = chat.next_seq
        Chat.objects.filter(pk=chat_id).update(next_seq=seq + 1)
        message = Message.objects.create(
            chat=chat,
            seq=seq,
            pos=allocate_position(),
            client_message_id=f"lost{seq}",
            kind="application",
            epoch=0,
            ciphertext=text,
        )
    return message.id


def test_a_lost_live_frame_is_not_acked_and_comes_back_on_resume(make_account, live_server_daphne) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)

    async def scenario() -> tuple[int, int, list[int], list[int]]:
        device = SocketDevice(live_server_daphne.ws_url, bob.token)
        await device.connect()
        lost = await asyncio.to_thread(store_without_publishing, chat["id"], b"lost on the wire")
        seen = (await asyncio.to_thread(send, alice, chat["id"], b"arrives")).json()["id"]
        await device.until(lambda f: f["type"] == "event" and f["message"]["id"] == seen)
        live = device.message_ids()
        await device.ack()  # the client acknowledges the highest cursor it saw
        await device.send({"type": "ping"})
        await device.until(lambda f: f["type"] == "pong")
        await device.close()
        # a fresh install of the same device trusts the server's cursor
        resumed = SocketDevice(live_server_daphne.ws_url, bob.token)
        await resumed.connect()
        await resumed.close()
        return lost, seen, live, resumed.message_ids()

    lost, seen, live, replayed = asyncio.run(scenario())
    assert live == [seen]
    # the server kept its cursor just before the lost position: both come back, in order
    assert replayed == [lost, seen]


def test_revoking_a_device_drops_its_pending_welcomes_and_cursor(make_account) -> None:
    from apps.messages.models import DeviceCursor
    from tests.conftest import b64

    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    assert (
        send(
            alice, chat["id"], kind="commit", epoch=0, welcome={"device_ids": [bob.device_id], "payload": b64(b"w")}
        ).status_code
        == 201
    )
    assert DeviceInbox.objects.filter(device_id=bob.device_id).exists()
    assert DeviceCursor.objects.filter(device_id=bob.device_id).exists()
    assert bob.client.delete(f"/v1/devices/{bob.device_id}").status_code == 204
    assert not DeviceInbox.objects.filter(device_id=bob.device_id).exists()
    assert not DeviceCursor.objects.filter(device_id=bob.device_id).exists()
