import threading
from collections import Counter

import pytest
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from apps.devices.models import KeyPackage
from tests.conftest import DeviceKeys, b64, fake_keypackage, login

pytestmark = pytest.mark.django_db


def upload(account, packages: list[bytes]):
    return account.client.post("/v1/keypackages", {"keypackages": [b64(p) for p in packages]}, format="json")


def test_upload_and_claim_one_per_device(make_account) -> None:
    bob = make_account()
    second = login(APIClient(), bob.username, bob.password, DeviceKeys())
    bob2_client = APIClient()
    bob2_client.credentials(HTTP_AUTHORIZATION=f"Bearer {second.json()['token']}")
    first_batch = [fake_keypackage() for _ in range(3)]
    assert upload(bob, first_batch).json() == {"stored": 3}
    second_batch = [fake_keypackage() for _ in range(2)]
    assert (
        bob2_client.post("/v1/keypackages", {"keypackages": [b64(p) for p in second_batch]}, format="json").status_code
        == 201
    )

    alice = make_account()
    claimed = alice.client.post("/v1/keypackages/claim", {"users": [bob.username]}, format="json")
    assert claimed.status_code == 200
    entries = claimed.json()[bob.address]
    assert {e["device_id"] for e in entries} == {bob.device_id, second.json()["device_id"]}
    by_device = {e["device_id"]: e["keypackage"] for e in entries}
    assert by_device[bob.device_id] in {b64(p) for p in first_batch}
    assert by_device[second.json()["device_id"]] in {b64(p) for p in second_batch}
    assert KeyPackage.objects.count() == 3


def test_empty_pool_is_reported_not_skipped(make_account) -> None:
    bob = make_account()
    alice = make_account()
    upload(bob, [fake_keypackage()])
    first = alice.client.post("/v1/keypackages/claim", {"users": [bob.address]}, format="json").json()
    assert first[bob.address][0]["keypackage"] is not None
    second = alice.client.post("/v1/keypackages/claim", {"users": [bob.address]}, format="json").json()
    assert second[bob.address] == [
        {
            "device_id": bob.device_id,
            "client_device_id": bob.device.client_device_id,
            "keypackage": None,
            "identity_key": None,
            "certificate": None,
        }
    ]


def test_claim_for_unknown_user_is_404(make_account) -> None:
    alice = make_account()
    response = alice.client.post("/v1/keypackages/claim", {"users": ["nobody"]}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "user_not_found"


@pytest.mark.parametrize(
    "package",
    [b"garbage", bytes.fromhex("000100050001") + b"\x00\x01" + bytes(100), bytes.fromhex("000100050001f00c")],
)
def test_garbage_keypackages_rejected(make_account, package: bytes) -> None:
    bob = make_account()
    response = upload(bob, [fake_keypackage(), package])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_keypackage"
    assert KeyPackage.objects.count() == 0  # the whole batch is refused


def test_oversize_keypackage_rejected(make_account) -> None:
    bob = make_account()
    response = upload(bob, [fake_keypackage(bytes(20_000))])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


@override_settings(TALKEE_KEYPACKAGE_POOL_MAX=5)
def test_pool_is_capped_per_device(make_account) -> None:
    bob = make_account()
    assert upload(bob, [fake_keypackage() for _ in range(4)]).status_code == 201
    full = upload(bob, [fake_keypackage() for _ in range(2)])
    assert full.status_code == 409
    assert full.json()["error"]["code"] == "keypackage_pool_full"
    assert KeyPackage.objects.count() == 4


def test_batch_size_capped(make_account) -> None:
    bob = make_account()
    response = upload(bob, [fake_keypackage(b"x" * 10) for _ in range(101)])
    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_hand_out_a_keypackage_twice(make_account) -> None:
    """Eight threads, each with its own PostgreSQL connection, claim at once."""
    assert connection.vendor == "postgresql"
    bob = make_account()
    packages = [fake_keypackage() for _ in range(60)]
    assert upload(bob, packages).status_code == 201
    claimers = [make_account() for _ in range(8)]
    handed_out: list[str | None] = []
    lock = threading.Lock()
    start = threading.Barrier(len(claimers))

    def claim_many(account) -> None:
        try:
            start.wait()
            for _ in range(10):
                response = account.client.post("/v1/keypackages/claim", {"users": [bob.address]}, format="json")
                assert response.status_code == 200, response.content
                with lock:
                    handed_out.append(response.json()[bob.address][0]["keypackage"])
        finally:
            connection.close()

    threads = [threading.Thread(target=claim_many, args=(c,)) for c in claimers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    real = [p for p in handed_out if p is not None]
    assert len(handed_out) == 80
    assert len(real) == 60, "every stored KeyPackage is handed out"
    assert max(Counter(real).values()) == 1, "no KeyPackage handed out twice"
    assert set(real) == {b64(p) for p in packages}
    assert KeyPackage.objects.count() == 0


def test_claim_for_named_devices_leaves_the_other_pools_alone(make_account) -> None:
    """Adding one new device claims only its KeyPackage, not one of each sibling's."""
    bob = make_account()
    keys = DeviceKeys()
    second = login(APIClient(), bob.username, bob.password, keys).json()
    bob2_client = APIClient()
    bob2_client.credentials(HTTP_AUTHORIZATION=f"Bearer {second['token']}")
    upload(bob, [fake_keypackage()])
    new_package = fake_keypackage()
    bob2_client.post("/v1/keypackages", {"keypackages": [b64(new_package)]}, format="json")

    alice = make_account()
    claimed = alice.client.post(
        "/v1/keypackages/claim", {"users": [bob.address], "device_ids": [second["device_id"]]}, format="json"
    )
    assert claimed.status_code == 200
    assert claimed.json()[bob.address] == [
        {
            "device_id": second["device_id"],
            "client_device_id": keys.client_device_id,
            "keypackage": b64(new_package),
            "identity_key": None,
            "certificate": None,
        }
    ]
    assert KeyPackage.objects.filter(device_id=bob.device_id).count() == 1
    bad = alice.client.post("/v1/keypackages/claim", {"users": [bob.address], "device_ids": ["x"]}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_input"
