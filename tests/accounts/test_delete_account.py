"""Deleting one's account: the password re-entered; the devices, sessions, KeyPackages, push
subscriptions, device-stream rows and memberships go, sockets close with 4004, the others'
chats go on without the user, and the username is never registered again."""

import asyncio
import logging
from typing import Any

import pytest
from blake3 import blake3
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts.models import RetiredUsername, Session, User
from apps.chats.models import Chat, Membership
from apps.devices.models import Device, KeyPackage
from apps.messages.models import DeviceInbox, Message
from apps.push.models import PushSubscription
from apps.push.vapid import vapid_public_key
from tests.conftest import PASSWORD, DeviceKeys, b64, login, make_chat, send, token_client
from tests.push.conftest import subscribe
from tests.push.standin import PushServiceStandIn
from tests.support.sockets import close_code, open_socket


def delete(client: APIClient, password: Any) -> Any:
    return client.post("/v1/accounts/me/delete", {"password": password}, format="json")


@pytest.mark.django_db
def test_wrong_password_deletes_nothing(make_account) -> None:
    alice = make_account()
    answer = delete(alice.client, "not my password at all")
    assert answer.status_code == 403
    assert answer.json() == {"error": {"code": "wrong_password", "message": "The password is not right."}}
    assert User.objects.filter(username=alice.address).exists()
    assert alice.client.get("/v1/devices").status_code == 200
    # Guessing with a stolen token is throttled like the password change.
    for _ in range(4):
        assert delete(alice.client, "still wrong").status_code == 403
    assert delete(alice.client, alice.password).status_code == 429
    assert User.objects.filter(username=alice.address).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"password": 5}, {"password": None}, {"password": "x" * 5000}, [1, 2]])
def test_bad_input_answers_400_in_the_error_shape(make_account, body) -> None:
    alice = make_account()
    answer = alice.client.post("/v1/accounts/me/delete", body, format="json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["message"]
    assert User.objects.filter(username=alice.address).exists()


@pytest.mark.django_db
def test_without_a_token_nothing_is_deleted(make_account) -> None:
    alice = make_account()
    assert delete(APIClient(), alice.password).status_code == 401
    assert User.objects.filter(username=alice.address).exists()


@pytest.mark.django_db
def test_delete_removes_the_rows_and_the_others_chats_go_on(make_account, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    alice, bob, carol = make_account(), make_account(), make_account()
    phone = login(APIClient(), alice.username, alice.password, DeviceKeys()).json()
    alice_devices = [alice.device_id, phone["device_id"]]
    assert alice.client.post("/v1/keypackages", {"keypackages": [b64(b"\x00\x01kp")]}, format="json").status_code
    push_service = PushServiceStandIn(vapid_public_key())
    try:
        subscribe(alice, push_service.subscribe())
    finally:
        push_service.stop()
    group = make_chat(alice, "group", bob, carol)  # Alice owns it
    direct = make_chat(alice, "direct", bob)
    alone = make_chat(alice, "group")  # nobody else in it
    sent = send(alice, group["id"], b"alice's ciphertext")
    assert sent.status_code == 201
    # Something queued in Alice's device stream (Bob's message, notices).
    assert send(bob, direct["id"], b"for alice").status_code == 201
    assert DeviceInbox.objects.filter(device_id__in=alice_devices).exists()

    answer = delete(alice.client, alice.password)
    assert answer.status_code == 204, answer.content

    assert not User.objects.filter(username=alice.address).exists()
    assert not Device.objects.filter(pk__in=alice_devices).exists()
    assert not Session.objects.filter(device_id__in=alice_devices).exists()
    assert not KeyPackage.objects.filter(device_id__in=alice_devices).exists()
    assert not PushSubscription.objects.filter(device_id__in=alice_devices).exists()
    assert not DeviceInbox.objects.filter(device_id__in=alice_devices).exists()
    assert not Membership.objects.filter(user__username=alice.address).exists()
    assert alice.client.get("/v1/devices").status_code == 401
    assert token_client(phone["token"]).get("/v1/devices").status_code == 401
    # The group goes on: Bob (the longest-standing member) owns it now and is told so with
    # the removal; Carol and he write on; Alice's message stays as ciphertext.
    members = {m.user.username: m.role for m in Membership.objects.filter(chat_id=group["id"]).select_related("user")}
    assert members == {bob.address: "owner", carol.address: "member"}
    notice = DeviceInbox.objects.filter(device_id=carol.device_id, chat_id=group["id"]).order_by("-pk").first()
    assert notice is not None
    assert notice.data == {
        "change": "members",
        "chat_id": group["id"],
        "removed": [alice.address],
        "role": {bob.address: "owner"},
    }
    assert bytes(Message.objects.get(pk=sent.json()["id"]).ciphertext) == b"alice's ciphertext"
    assert send(carol, group["id"], b"still here").status_code == 201
    listed = bob.client.get(f"/v1/chats/{group['id']}").json()
    assert alice.address not in [m["user"] for m in listed["members"]]
    # The direct chat is Bob's alone; the chat nobody else was in is gone.
    assert list(Membership.objects.filter(chat_id=direct["id"]).values_list("user_id", flat=True)) == [
        User.objects.get(username=bob.address).pk
    ]
    assert not Chat.objects.filter(pk=alone["id"]).exists()
    # The password is in no log, and the server keeps no readable trace of the name.
    assert alice.password not in caplog.text
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounts_retiredusername")
        assert cursor.fetchone()[0] == 1
    assert bytes(RetiredUsername.objects.get().address_hash) == blake3(alice.address.encode()).digest()


@pytest.mark.django_db
def test_the_username_is_never_registered_again(make_account) -> None:
    alice = make_account()
    assert delete(alice.client, alice.password).status_code == 204
    again = APIClient().post(
        "/v1/accounts/register",
        {"username": alice.username, "password": PASSWORD, "recovery_hash": b64(bytes(32))},
        format="json",
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "username_retired"
    # Nobody signs in as the deleted account either.
    assert login(APIClient(), alice.username, alice.password, alice.device).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_delete_closes_every_socket_of_the_account_with_4004(make_account, live_server_daphne) -> None:
    alice, bob = make_account(), make_account()
    phone = login(APIClient(), alice.username, alice.password, DeviceKeys()).json()

    async def scenario() -> tuple[int, int]:
        laptop_socket = await open_socket(live_server_daphne.ws_url, alice.token)
        phone_socket = await open_socket(live_server_daphne.ws_url, phone["token"])
        bob_socket = await open_socket(live_server_daphne.ws_url, bob.token)
        answer = await asyncio.to_thread(delete, alice.client, alice.password)
        assert answer.status_code == 204, answer.content
        codes = await asyncio.gather(close_code(laptop_socket), close_code(phone_socket))
        await bob_socket.ping()  # Bob's socket is untouched
        await bob_socket.close()
        return codes[0], codes[1]

    assert asyncio.run(scenario()) == (4004, 4004)
