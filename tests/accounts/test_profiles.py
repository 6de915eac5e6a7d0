"""Encrypted profiles: the server keeps a user's sealed profile and a version each change
must raise; anyone signed in may fetch it (only those given the profile key through MLS can
open it); only its owner writes it; a too-large one is refused in words, never stored."""

import base64
import os

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from apps.accounts.models import Profile

pytestmark = pytest.mark.django_db


def sealed(size: int = 200) -> str:
    return base64.b64encode(os.urandom(size)).decode()


def put(client: APIClient, version: int, ciphertext: str):
    return client.put("/v1/accounts/me/profile", {"version": version, "ciphertext": ciphertext}, format="json")


def test_the_owner_writes_and_a_member_reads_the_same_ciphertext(make_account) -> None:
    alice = make_account()
    bob = make_account()
    body = sealed()
    answer = put(alice.client, 1, body)
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"user": alice.address, "version": 1, "ciphertext": body}
    read = bob.client.get(f"/v1/accounts/{alice.address}/profile")
    assert read.status_code == 200
    assert read.json() == {"user": alice.address, "version": 1, "ciphertext": body}
    assert alice.client.get("/v1/accounts/me/profile").json()["version"] == 1
    assert bytes(Profile.objects.get(account__username=alice.address).ciphertext) == base64.b64decode(body)


def test_the_version_must_go_up(make_account) -> None:
    alice = make_account()
    first, second = sealed(), sealed()
    assert put(alice.client, 5, first).status_code == 200
    for version in (5, 4):
        refused = put(alice.client, version, sealed())
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "stale_profile_version"
        assert "version 5" in refused.json()["error"]["message"]
    assert put(alice.client, 6, second).status_code == 200
    assert alice.client.get(f"/v1/accounts/{alice.address}/profile").json() == {
        "user": alice.address,
        "version": 6,
        "ciphertext": second,
    }


def test_a_too_large_profile_is_refused_in_words(make_account) -> None:
    alice = make_account()
    limit = settings.TALKEE_PROFILE_MAX_BYTES
    refused = put(alice.client, 1, sealed(limit + 1))
    assert refused.status_code == 413
    error = refused.json()["error"]
    assert error["code"] == "profile_too_large"
    assert str(limit) in error["message"] and "smaller picture" in error["message"]
    assert not Profile.objects.exists()
    assert put(alice.client, 1, sealed(limit)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"version": 0, "ciphertext": "AAAA"},
        {"version": 1, "ciphertext": ""},
        {"version": 1, "ciphertext": "not base64!"},
        {"version": 1},
        {"ciphertext": "AAAA"},
    ],
)
def test_bad_input_is_a_clear_400(make_account, body) -> None:
    alice = make_account()
    refused = alice.client.put("/v1/accounts/me/profile", body, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_input"
    assert refused.json()["error"]["message"]


def test_unauthenticated_calls_get_401(make_account) -> None:
    alice = make_account()
    assert put(alice.client, 1, sealed()).status_code == 200
    anonymous = APIClient()
    for answer in (
        put(anonymous, 2, sealed()),
        anonymous.get("/v1/accounts/me/profile"),
        anonymous.get(f"/v1/accounts/{alice.address}/profile"),
    ):
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthenticated"
    assert Profile.objects.get().version == 1


def test_nobody_writes_another_users_profile(make_account) -> None:
    alice = make_account()
    mallory = make_account()
    body = sealed()
    assert put(alice.client, 1, body).status_code == 200
    # There is no path to write someone else's profile: the only write is "me".
    for method in ("put", "post", "patch", "delete"):
        answer = getattr(mallory.client, method)(
            f"/v1/accounts/{alice.address}/profile", {"version": 9, "ciphertext": sealed()}, format="json"
        )
        assert answer.status_code == 405, (method, answer.content)
        assert answer.json()["error"]["code"] == "method_not_allowed"
    # Mallory's own write goes to Mallory's profile only.
    assert put(mallory.client, 9, sealed()).status_code == 200
    assert alice.client.get("/v1/accounts/me/profile").json() == {
        "user": alice.address,
        "version": 1,
        "ciphertext": body,
    }


def test_no_profile_and_unknown_users_are_404(make_account) -> None:
    alice = make_account()
    for path, code in (
        ("/v1/accounts/me/profile", "not_found"),
        (f"/v1/accounts/{alice.address}/profile", "not_found"),
        (f"/v1/accounts/nobody{alice.address[alice.address.index('@') :]}/profile", "not_found"),
        # someone of another instance that nobody here chats with: not asked of that instance
        ("/v1/accounts/nobody@x.test/profile", "user_not_found"),
    ):
        answer = alice.client.get(path)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == code
