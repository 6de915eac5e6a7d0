import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.messages.models import DeviceInbox
from tests.conftest import DeviceKeys, b64, login, make_chat, token_client

pytestmark = pytest.mark.django_db


def device_events(client: APIClient, kind: str) -> list[dict]:
    events = client.get("/v1/sync", {"cursor": 0, "timeout": 0}).json()["events"]
    return [e for e in events if e["type"] == "device_event" and e["kind"] == kind]


def test_new_device_is_announced_to_own_devices_and_chat_peers_only(make_account) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    make_chat(alice, "direct", bob)
    phone = login(APIClient(), alice.username, alice.password, DeviceKeys(label="phone")).json()
    for account in (alice, bob):
        notices = [e["data"] for e in device_events(account.client, "device")]
        assert notices == [
            {
                "change": "added",
                "user": alice.address,
                "device_id": phone["device_id"],
                "client_device_id": notices[0]["client_device_id"],
            }
        ]
    assert device_events(carol.client, "device") == []
    # the new device itself starts at the present: no notice about itself, no old rows
    assert device_events(token_client(phone["token"]), "device") == []


def test_revoked_device_is_announced_so_peers_remove_its_leaf(make_account) -> None:
    alice, bob = make_account(), make_account()
    make_chat(alice, "group", bob)
    phone = login(APIClient(), alice.username, alice.password, DeviceKeys()).json()
    assert alice.client.delete(f"/v1/devices/{phone['device_id']}").status_code == 204
    for account in (alice, bob):
        changes = [(e["data"]["change"], e["data"]["device_id"]) for e in device_events(account.client, "device")]
        assert changes[-1] == ("revoked", phone["device_id"])


def test_history_bundle_goes_sealed_to_the_users_new_device(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    phone = login(APIClient(), alice.username, alice.password, DeviceKeys()).json()
    sealed = os.urandom(2048)
    stored = alice.client.post(
        "/v1/device-sync/bundle",
        {"to_device_id": phone["device_id"], "chat_id": chat["id"], "ciphertext": b64(sealed)},
        format="json",
    )
    assert stored.status_code == 201
    bundles = device_events(token_client(phone["token"]), "sync_bundle")
    assert [(b["payload"], b["chat_id"], b["from_device_id"]) for b in bundles] == [
        (b64(sealed), chat["id"], alice.device_id)
    ]
    assert device_events(alice.client, "sync_bundle") == []


def test_bundle_bad_cases(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    other_chat = make_chat(bob, "group")
    phone = login(APIClient(), alice.username, alice.password, DeviceKeys()).json()

    def upload(**body):
        payload = {"to_device_id": phone["device_id"], "chat_id": chat["id"], "ciphertext": b64(b"x"), **body}
        return alice.client.post("/v1/device-sync/bundle", payload, format="json")

    not_mine = upload(to_device_id=bob.device_id)
    assert not_mine.status_code == 403
    assert not_mine.json()["error"]["code"] == "not_your_device"
    assert upload(ciphertext=b64(os.urandom(4 * 1024 * 1024 + 1))).status_code == 413
    assert upload(ciphertext=b64(os.urandom(4 * 1024 * 1024))).status_code == 201
    assert upload(chat_id=other_chat["id"]).status_code == 404
    assert upload(ciphertext="%%").status_code == 400
    assert DeviceInbox.objects.filter(kind="sync_bundle").count() == 1


@pytest.mark.django_db(transaction=True)
def test_bundles_are_purged_when_stale_or_acknowledged(make_account, celery_worker_process) -> None:
    from apps.devices.tasks import purge_stale_sync_bundles

    alice = make_account()
    chat = make_chat(alice, "group")
    phone = login(APIClient(), alice.username, alice.password, DeviceKeys()).json()
    tablet = login(APIClient(), alice.username, alice.password, DeviceKeys()).json()
    for target in (phone, tablet):
        assert (
            alice.client.post(
                "/v1/device-sync/bundle",
                {"to_device_id": target["device_id"], "chat_id": chat["id"], "ciphertext": b64(b"sealed")},
                format="json",
            ).status_code
            == 201
        )
    # the phone imports its bundle and acknowledges; the tablet never comes online for 25 hours
    phone_client = token_client(phone["token"])
    cursor = phone_client.get("/v1/sync", {"cursor": 0, "timeout": 0}).json()["cursor"]
    assert phone_client.post("/v1/sync/ack", {"cursor": cursor}, format="json").status_code == 200
    stale = DeviceInbox.objects.filter(kind="sync_bundle", device_id=tablet["device_id"])
    stale.update(created=timezone.now() - timedelta(hours=25))
    fresh = login(APIClient(), alice.username, alice.password, DeviceKeys()).json()
    assert (
        alice.client.post(
            "/v1/device-sync/bundle",
            {"to_device_id": fresh["device_id"], "chat_id": chat["id"], "ciphertext": b64(b"keep")},
            format="json",
        ).status_code
        == 201
    )
    purge_stale_sync_bundles.delay()
    deadline = time.monotonic() + 30
    while DeviceInbox.objects.filter(kind="sync_bundle").count() != 1:
        assert time.monotonic() < deadline, celery_worker_process.read_text()
        time.sleep(0.2)
    assert DeviceInbox.objects.get(kind="sync_bundle").device_id == fresh["device_id"]
