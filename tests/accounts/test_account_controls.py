"""Account controls: change the password (the current one required) and sign out every
other device (their tokens die, their sockets close with 4002, the devices stay)."""

import asyncio
import logging

import pytest
from django.contrib.auth.hashers import identify_hasher
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.accounts.models import Session, User
from apps.devices.models import Device
from tests.conftest import DeviceKeys, login, token_client
from tests.support.sockets import close_code, open_socket

NEW_PASSWORD = "another long passphrase 77"


def login_as(username: str, password: str, device: DeviceKeys, *, interactive: bool):
    client = APIClient()
    nonce = client.post("/v1/auth/challenge", {"username": username}, format="json").json()["nonce"]
    body = {
        "username": username,
        "password": password,
        "device": device.as_json(),
        "nonce": nonce,
        "signature": device.sign(nonce),
        "interactive": interactive,
    }
    return client.post("/v1/auth/login", body, format="json")


def change(client: APIClient, current: str, new: str, **extra: object):
    return client.post(
        "/v1/accounts/me/password", {"current_password": current, "new_password": new, **extra}, format="json"
    )


@pytest.mark.django_db
def test_change_password_then_only_the_new_one_logs_in(make_account, caplog) -> None:
    alice = make_account()
    caplog.set_level(logging.DEBUG)
    answer = change(alice.client, alice.password, NEW_PASSWORD)
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"signed_out": 0}
    user = User.objects.get(username=alice.address)
    assert identify_hasher(user.password).algorithm == "argon2"
    assert "argon2id" in user.password
    # This device's session goes on.
    assert alice.client.get("/v1/devices").status_code == 200
    # The same device signing in again: the old password is refused, the new one works.
    old = login(APIClient(), alice.username, alice.password, alice.device)
    assert old.status_code == 401
    assert old.json()["error"]["code"] == "invalid_credentials"
    assert login(APIClient(), alice.username, NEW_PASSWORD, alice.device).status_code == 200
    # Neither password is in the log.
    assert alice.password not in caplog.text
    assert NEW_PASSWORD not in caplog.text


@pytest.mark.django_db
def test_other_devices_keep_their_sessions_unless_asked(make_account) -> None:
    alice = make_account()
    phone = login(APIClient(), alice.username, alice.password, DeviceKeys()).json()
    assert change(alice.client, alice.password, NEW_PASSWORD).status_code == 200
    assert token_client(phone["token"]).get("/v1/devices").status_code == 200


@pytest.mark.django_db
def test_wrong_current_password_changes_nothing_and_is_no_failed_login(make_account) -> None:
    alice = make_account()
    bob = make_account()
    before = User.objects.get(username=alice.address).password
    answer = change(alice.client, "not my password at all", NEW_PASSWORD)
    assert answer.status_code == 403
    assert answer.json() == {"error": {"code": "wrong_password", "message": "The current password is not right."}}
    assert User.objects.get(username=alice.address).password == before
    # Still signed in (403, not 401: the client does not take it for a dead token).
    assert alice.client.get("/v1/devices").status_code == 200
    # Five wrong tries (the password throttle's allowance) count against no login: Bob and
    # Alice still sign in at once, each within the per-username login allowance.
    for _ in range(4):
        assert change(alice.client, "still wrong password", NEW_PASSWORD).status_code == 403
    assert change(alice.client, "still wrong password", NEW_PASSWORD).status_code == 429
    assert login(APIClient(), bob.username, bob.password, DeviceKeys()).status_code == 200
    assert login(APIClient(), alice.username, alice.password, DeviceKeys()).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"new_password": NEW_PASSWORD}, "invalid"),
        ({"current_password": "x", "new_password": 5}, "invalid"),
        ({"current_password": "CURRENT", "new_password": "short"}, "weak_password"),
        ({"current_password": "CURRENT", "new_password": "CURRENT"}, "same_password"),
        ({"current_password": "CURRENT", "new_password": NEW_PASSWORD, "log_out_other_devices": "maybe"}, "invalid"),
    ],
)
def test_bad_input_answers_400_in_the_error_shape(make_account, body, code) -> None:
    alice = make_account()
    body = {k: (alice.password if v == "CURRENT" else v) for k, v in body.items()}
    answer = alice.client.post("/v1/accounts/me/password", body, format="json")
    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert error["message"]
    if code != "invalid":
        assert error["code"] == code
    assert login(APIClient(), alice.username, alice.password, DeviceKeys()).status_code == 200


@pytest.mark.django_db
def test_without_a_token_nothing_changes(make_account) -> None:
    alice = make_account()
    answer = change(APIClient(), alice.password, NEW_PASSWORD)
    assert answer.status_code == 401
    assert login(APIClient(), alice.username, alice.password, DeviceKeys()).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("with_password_change", [False, True])
def test_log_out_other_devices_kills_their_tokens_and_sockets(
    make_account, live_server_daphne, with_password_change
) -> None:
    alice = make_account()
    bob = make_account()
    phone_keys = DeviceKeys()
    phone = login(APIClient(), alice.username, alice.password, phone_keys).json()
    tablet = login(APIClient(), alice.username, alice.password, DeviceKeys()).json()

    async def scenario() -> tuple[int, int, int]:
        phone_socket = await open_socket(live_server_daphne.ws_url, phone["token"])
        tablet_socket = await open_socket(live_server_daphne.ws_url, tablet["token"])
        bob_socket = await open_socket(live_server_daphne.ws_url, bob.token)
        if with_password_change:
            answer = await asyncio.to_thread(
                change, alice.client, alice.password, NEW_PASSWORD, log_out_other_devices=True
            )
        else:
            answer = await asyncio.to_thread(alice.client.post, "/v1/accounts/me/log-out-others")
        assert answer.status_code == 200, answer.content
        assert answer.json() == {"signed_out": 2}
        codes = await asyncio.gather(close_code(phone_socket), close_code(tablet_socket))
        # Bob's socket is untouched.
        await bob_socket.ping()
        await bob_socket.close()
        return codes[0], codes[1], 0

    phone_code, tablet_code, _ = asyncio.run(scenario())
    assert (phone_code, tablet_code) == (4002, 4002)
    assert token_client(phone["token"]).get("/v1/devices").status_code == 401
    assert token_client(tablet["token"]).get("/v1/devices").status_code == 401
    assert alice.client.get("/v1/devices").status_code == 200
    assert set(Session.objects.filter(user__username=alice.address).values_list("device_id", flat=True)) == {
        alice.device_id
    }
    # The devices stay (not revoked): the list shows them signed out.
    listed = {d["id"]: d["signed_in"] for d in alice.client.get("/v1/devices").json()}
    assert listed == {alice.device_id: True, phone["device_id"]: False, tablet["device_id"]: False}
    assert Device.objects.filter(pk=phone["device_id"]).exists()
    # The phone signs in again as the same device, with the password now in force.
    password = NEW_PASSWORD if with_password_change else alice.password
    if with_password_change:
        assert login(APIClient(), alice.username, alice.password, phone_keys).status_code == 401
    # Not with the password the app kept (a tab left open on a lost phone): only typed.
    kept = login_as(alice.username, password, phone_keys, interactive=False)
    assert kept.status_code == 401
    assert kept.json()["error"]["code"] == "signed_out"
    assert not Session.objects.filter(device_id=phone["device_id"]).exists()
    again = login_as(alice.username, password, phone_keys, interactive=True)
    assert again.status_code == 200
    assert again.json()["device_id"] == phone["device_id"]
    # Signed in again: its later silent sign-ins (a dead socket) work as before.
    cache.clear()  # the per-username login throttle (5/min), not what is tested here
    assert login_as(alice.username, password, phone_keys, interactive=False).status_code == 200
    # Bob was not touched.
    assert bob.client.get("/v1/devices").status_code == 200


@pytest.mark.django_db
def test_log_out_others_with_no_other_device_signs_out_nobody(make_account) -> None:
    alice = make_account()
    answer = alice.client.post("/v1/accounts/me/log-out-others")
    assert answer.status_code == 200
    assert answer.json() == {"signed_out": 0}
    assert alice.client.get("/v1/devices").status_code == 200
