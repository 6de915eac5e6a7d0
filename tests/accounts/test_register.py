import pytest
from rest_framework.test import APIClient

from apps.accounts.models import User
from tests.conftest import PASSWORD, b64

pytestmark = pytest.mark.django_db


def register(client: APIClient, **overrides: object):
    body: dict[str, object] = {"username": "alice", "password": PASSWORD, "recovery_hash": b64(bytes(range(32)))}
    body.update(overrides)
    return client.post("/v1/accounts/register", body, format="json")


def test_register_creates_local_user_with_argon2id_hash() -> None:
    response = register(APIClient())
    assert response.status_code == 201
    assert response.json() == {"user": "alice@localhost"}
    user = User.objects.get(username="alice@localhost")
    assert user.domain == "localhost"
    assert user.password.startswith("argon2$argon2id$")
    assert PASSWORD not in user.password
    assert user.recovery_hash is not None
    assert bytes(user.recovery_hash) == bytes(range(32))


def test_username_is_unique_per_instance() -> None:
    client = APIClient()
    assert register(client).status_code == 201
    again = register(client)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "username_taken"


@pytest.mark.parametrize("name", ["Al", "ab", "a" * 33, "alice smith", "ALICE", "al!ce", "alice@evil", "ali\u00e7e"])
def test_bad_usernames_are_refused_with_a_reason(name: str) -> None:
    response = register(APIClient(), username=name)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_username"
    assert "lowercase" in response.json()["error"]["message"]


@pytest.mark.parametrize("name", ["abc", "a.b-c_d", "x" * 32, "0123"])
def test_good_usernames_are_accepted(name: str) -> None:
    assert register(APIClient(), username=name).status_code == 201


def test_weak_password_refused() -> None:
    response = register(APIClient(), password="short")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "weak_password"


def test_remote_users_exist_without_password() -> None:
    remote = User.objects.create_user("bob@partner.example", None, domain="partner.example")
    assert not remote.has_usable_password()
    assert remote.localpart == "bob"
