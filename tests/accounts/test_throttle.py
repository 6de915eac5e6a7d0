import pytest
from rest_framework.test import APIClient

from tests.conftest import DeviceKeys, login

pytestmark = pytest.mark.django_db


def test_guessing_one_account_is_throttled_with_retry_after(make_account) -> None:
    alice = make_account(log_in=False)
    statuses = []
    for attempt in range(7):
        client = APIClient(REMOTE_ADDR=f"10.9.0.{attempt}")  # many addresses, one target
        statuses.append(login(client, alice.username, f"guess number {attempt}", DeviceKeys()).status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    blocked = login(APIClient(REMOTE_ADDR="10.9.1.1"), alice.username, alice.password, DeviceKeys())
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert blocked.json()["error"]["code"] == "rate_limited"


def test_one_address_guessing_many_accounts_is_throttled(make_account) -> None:
    client = APIClient(REMOTE_ADDR="10.8.0.1")
    statuses = [
        client.post("/v1/auth/challenge", {"username": f"someone{i}"}, format="json").status_code for i in range(22)
    ]
    assert statuses[:20] == [200] * 20
    assert statuses[20:] == [429, 429]
