import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import LoginChallenge, Session
from apps.devices.models import Device
from tests.conftest import PASSWORD, DeviceKeys, b64, login

pytestmark = pytest.mark.django_db


def challenge(client: APIClient, username: str) -> str:
    response = client.post("/v1/auth/challenge", {"username": username}, format="json")
    assert response.status_code == 200
    return str(response.json()["nonce"])


def post_login(client: APIClient, username: str, password: str, device: dict, nonce: str, signature: str):
    body = {"username": username, "password": password, "device": device, "nonce": nonce, "signature": signature}
    return client.post("/v1/auth/login", body, format="json")


def test_login_with_device_signature_returns_token_once(make_account) -> None:
    alice = make_account(log_in=False)
    device = DeviceKeys(label="laptop")
    response = login(alice.client, alice.username, PASSWORD, device)
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == alice.address
    assert len(body["token"]) >= 43
    stored = Device.objects.get(pk=body["device_id"])
    assert str(stored.client_device_id) == device.client_device_id
    assert bytes(stored.ed25519_pub) == bytes(device.signing.verify_key)
    assert stored.label == "laptop"
    alice.client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    devices = alice.client.get("/v1/devices").json()
    assert [d["current"] for d in devices] == [True]


def test_forged_signature_is_refused(make_account) -> None:
    alice = make_account(log_in=False)
    device, impostor = DeviceKeys(), DeviceKeys()
    nonce = challenge(alice.client, alice.username)
    response = post_login(alice.client, alice.username, PASSWORD, device.as_json(), nonce, impostor.sign(nonce))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not Session.objects.exists()
    assert not Device.objects.exists()


def test_signature_over_another_nonce_is_refused(make_account) -> None:
    alice = make_account(log_in=False)
    device = DeviceKeys()
    nonce = challenge(alice.client, alice.username)
    other = challenge(alice.client, alice.username)
    response = post_login(alice.client, alice.username, PASSWORD, device.as_json(), nonce, device.sign(other))
    assert response.status_code == 401


def test_replayed_nonce_is_refused(make_account) -> None:
    alice = make_account(log_in=False)
    device = DeviceKeys()
    nonce = challenge(alice.client, alice.username)
    body = {
        "username": alice.username,
        "password": PASSWORD,
        "device": device.as_json(),
        "nonce": nonce,
        "signature": device.sign(nonce),
    }
    assert alice.client.post("/v1/auth/login", body, format="json").status_code == 200
    replay = APIClient().post("/v1/auth/login", body, format="json")
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "invalid_challenge"


def test_expired_nonce_is_refused(make_account) -> None:
    alice = make_account(log_in=False)
    device = DeviceKeys()
    nonce = challenge(alice.client, alice.username)
    LoginChallenge.objects.filter(nonce=nonce).update(expires_at=timezone.now())
    response = post_login(alice.client, alice.username, PASSWORD, device.as_json(), nonce, device.sign(nonce))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_challenge"


def test_nonce_is_bound_to_the_username_it_was_issued_for(make_account) -> None:
    alice = make_account(log_in=False)
    bob = make_account(log_in=False)
    device = DeviceKeys()
    nonce = challenge(alice.client, bob.username)
    response = post_login(alice.client, alice.username, PASSWORD, device.as_json(), nonce, device.sign(nonce))
    assert response.status_code == 401


def test_wrong_password_refused_and_nonce_spent(make_account) -> None:
    alice = make_account(log_in=False)
    device = DeviceKeys()
    response = login(alice.client, alice.username, "not the password at all", device)
    assert response.status_code == 401
    assert response.json()["error"] == {"code": "invalid_credentials", "message": "Wrong username or password."}
    assert not LoginChallenge.objects.exists()


def test_unknown_user_gets_the_same_answer_as_wrong_password() -> None:
    response = login(APIClient(), "nobody", PASSWORD, DeviceKeys())
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_same_device_logs_in_again_but_not_with_other_keys(make_account) -> None:
    alice = make_account()
    again = login(APIClient(), alice.username, PASSWORD, alice.device)
    assert again.status_code == 200
    assert again.json()["device_id"] == alice.device_id
    swapped = DeviceKeys(client_device_id=alice.device.client_device_id)
    hijack = login(APIClient(), alice.username, PASSWORD, swapped)
    assert hijack.status_code == 409
    assert hijack.json()["error"]["code"] == "device_key_mismatch"


def test_logout_kills_the_token(make_account) -> None:
    alice = make_account()
    assert alice.client.get("/v1/devices").status_code == 200
    assert alice.client.post("/v1/auth/logout").status_code == 204
    after = alice.client.get("/v1/devices")
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "unauthenticated"


def test_invalid_public_key_refused(make_account) -> None:
    alice = make_account(log_in=False)
    device = DeviceKeys()
    nonce = challenge(alice.client, alice.username)
    keys = device.as_json()
    keys["ed25519_pub"] = b64(b"\xff" * 32)  # not a point on the curve
    response = post_login(alice.client, alice.username, PASSWORD, keys, nonce, device.sign(nonce))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_key"
