"""GET /v1/calls/turn: short-lived TURN credentials in coturn's REST-API scheme."""

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC
from rest_framework.test import APIClient

from apps.accounts.models import User

SECRET = "north-wind-turn-secret"
URLS = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"]


def coturn_password(secret: str, username: str) -> bytes:
    """What coturn computes for `use-auth-secret`: HMAC-SHA1 keyed with the static secret."""
    mac = HMAC(secret.encode(), hashes.SHA1())
    mac.update(username.encode())
    return mac.finalize()


@pytest.fixture
def turn(settings: Any) -> Any:
    settings.TALKEE_TURN_URLS = URLS
    settings.TALKEE_TURN_SECRET = SECRET
    settings.TALKEE_TURN_TTL_SECONDS = 600
    return settings


def test_credentials_verify_with_coturns_hmac_and_expire_after_the_ttl(make_account: Any, turn: Any) -> None:
    alice = make_account()
    before = int(time.time())
    response = alice.client.get("/v1/calls/turn")
    after = int(time.time())
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"urls", "username", "credential", "ttl"}
    assert body["urls"] == URLS
    assert body["ttl"] == 600
    expiry_text, opaque = body["username"].split(":", 1)
    assert before + 600 <= int(expiry_text) <= after + 600
    assert opaque
    assert base64.b64decode(body["credential"], validate=True) == coturn_password(SECRET, body["username"])
    # Another secret gives another password: the credential really depends on the secret.
    assert base64.b64decode(body["credential"]) != coturn_password("other", body["username"])


def test_the_username_says_nothing_about_the_user_or_device(make_account: Any, turn: Any) -> None:
    alice = make_account()
    user = User.objects.get(username=alice.address)
    first = alice.client.get("/v1/calls/turn").json()
    second = alice.client.get("/v1/calls/turn").json()
    for body in (first, second):
        opaque = body["username"].split(":", 1)[1]
        for value in (alice.username, alice.address, alice.device.client_device_id, alice.token):
            assert value not in body["username"]
        # Short numeric ids could appear in random hex by chance; the id is not one of them.
        assert opaque not in (str(user.pk), str(alice.device_id))
        assert len(opaque) == 24 and int(opaque, 16) >= 0
    # Fresh for every request, so two credentials cannot be linked by their names.
    assert first["username"].split(":", 1)[1] != second["username"].split(":", 1)[1]


def test_without_turn_configured_the_answer_is_empty_urls(make_account: Any, settings: Any) -> None:
    settings.TALKEE_TURN_URLS = []
    settings.TALKEE_TURN_SECRET = SECRET
    alice = make_account()
    response = alice.client.get("/v1/calls/turn")
    assert response.status_code == 200
    assert response.json() == {"urls": []}


@pytest.mark.django_db
@pytest.mark.parametrize("authorization", [None, "Bearer " + "A" * 43])
def test_unauthenticated_is_401_in_the_error_shape(turn: Any, authorization: str | None) -> None:
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    response = client.get("/v1/calls/turn")
    assert response.status_code == 401
    body = json.loads(response.content)
    assert body["error"]["code"] == "unauthenticated"
    assert SECRET not in response.content.decode() and "username" not in body


def test_other_methods_are_405_in_the_error_shape(make_account: Any, turn: Any) -> None:
    alice = make_account()
    response = alice.client.post("/v1/calls/turn", {}, format="json")
    assert response.status_code == 405
    assert set(response.json()) == {"error"}
