"""The push API: the VAPID key, one subscription per device (refusing endpoints that would
make the server reach private networks), per-device chat mutes, and revocation."""

import os
import stat
import subprocess
import sys
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.push import vapid
from apps.push.models import ChatMute, PushPreference, PushSubscription
from tests.conftest import DeviceKeys, login, make_chat, server_env
from tests.push.conftest import subscribe
from tests.push.standin import PushServiceStandIn, Subscriber, b64url

pytestmark = pytest.mark.django_db
NOT_A_POINT = b64url(b"\x04" + b"\x01" * 64)


def test_the_vapid_key_is_served_and_is_the_one_on_disk(make_account: Any) -> None:
    alice = make_account()
    response = alice.client.get("/v1/push/vapid")
    assert response.status_code == 200
    assert response.json() == {"public_key": vapid.vapid_public_key()}
    assert len(vapid.vapid_public_key()) == 87  # a 65-byte uncompressed point in base64url


def test_the_vapid_key_is_created_once_private_and_never_replaced(settings: Any, tmp_path: Any) -> None:
    settings.TALKEE_KEY_DIR = tmp_path / "keys"
    vapid.vapid_private_key.cache_clear()
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "ensure_vapid_key"],
            env=server_env({"TALKEE_KEY_DIR": str(tmp_path / "keys")}),
            capture_output=True,
            text=True,
            check=True,
        )
        assert "created" in result.stdout
        path = tmp_path / "keys" / vapid.KEY_FILE
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        first = path.read_bytes()
        again = subprocess.run(
            [sys.executable, "manage.py", "ensure_vapid_key"],
            env=server_env({"TALKEE_KEY_DIR": str(tmp_path / "keys")}),
            capture_output=True,
            text=True,
            check=True,
        )
        assert "kept" in again.stdout
        assert path.read_bytes() == first
        assert vapid.vapid_public_key() in result.stdout
    finally:
        vapid.vapid_private_key.cache_clear()


def test_a_device_stores_replaces_and_deletes_its_one_subscription(
    make_account: Any, push_service: PushServiceStandIn
) -> None:
    alice = make_account()
    first, second = push_service.subscribe(), push_service.subscribe()
    subscribe(alice, first)
    subscribe(alice, second)
    rows = list(PushSubscription.objects.filter(device_id=alice.device_id))
    assert [r.endpoint for r in rows] == [second.endpoint]
    assert bytes(rows[0].p256dh) == second.p256dh and bytes(rows[0].auth) == second.auth
    assert alice.client.delete("/v1/push/subscription").status_code == 204
    assert not PushSubscription.objects.filter(device_id=alice.device_id).exists()


@pytest.mark.parametrize(
    ("endpoint", "code"),
    [
        ("https://10.1.2.3/push/x", "invalid_endpoint"),  # private
        ("https://192.168.0.10/push/x", "invalid_endpoint"),
        ("https://169.254.169.254/latest/meta-data", "invalid_endpoint"),  # link-local (cloud metadata)
        ("https://[fe80::1]/push/x", "invalid_endpoint"),
        ("https://[::ffff:10.0.0.1]/push/x", "invalid_endpoint"),
        ("https://100.64.0.1/push/x", "invalid_endpoint"),  # shared address space
        ("http://93.184.215.14/push/x", "invalid_endpoint"),  # plain http to the internet
        ("ftp://93.184.215.14/push/x", "invalid_endpoint"),
        ("https://user:pw@93.184.215.14/push/x", "invalid_endpoint"),
        ("https://no-such-host.invalid/push/x", "invalid_endpoint"),
        ("not a url", "invalid_endpoint"),
        ("https://93.184.215.14/" + "a" * 1100, "invalid_input"),
    ],
)
def test_endpoints_that_reach_private_networks_are_refused(make_account: Any, endpoint: str, code: str) -> None:
    alice = make_account()
    keys = Subscriber(endpoint="", token="").as_json()["keys"]
    response = alice.client.put("/v1/push/subscription", {"endpoint": endpoint, "keys": keys}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert not PushSubscription.objects.exists()


def test_loopback_is_refused_unless_the_test_setting_allows_it(
    make_account: Any, push_service: PushServiceStandIn, settings: Any
) -> None:
    alice = make_account()
    settings.TALKEE_PUSH_ALLOW_LOOPBACK = False
    for endpoint in (push_service.subscribe().endpoint, "https://127.0.0.1/push/x", "https://localhost/push/x"):
        subscriber = push_service.subscribe()
        body = {**subscriber.as_json(), "endpoint": endpoint}
        response = alice.client.put("/v1/push/subscription", body, format="json")
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_endpoint", endpoint
    settings.TALKEE_PUSH_ALLOW_LOOPBACK = True
    subscribe(alice, push_service.subscribe())


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"endpoint": 12, "keys": {}},
        {"keys": {"p256dh": "AAAA", "auth": "AAAA"}},
        "not an object",
        {"endpoint": "https://93.184.215.14/x", "keys": {"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": "x"}},
        # 65 bytes that are not a point on P-256
        {"endpoint": "https://93.184.215.14/x", "keys": {"p256dh": NOT_A_POINT, "auth": b64url(b"a" * 16)}},
        {"endpoint": "https://93.184.215.14/x", "keys": {"p256dh": ["x"], "auth": b64url(b"a" * 16)}},
    ],
)
def test_bad_subscriptions_get_the_error_shape(make_account: Any, body: Any) -> None:
    alice = make_account()
    response = alice.client.put("/v1/push/subscription", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] in ("invalid_input", "invalid_endpoint") and error["message"]


def test_push_calls_need_a_session(client: Any) -> None:
    for method, path in (("get", "/v1/push/vapid"), ("put", "/v1/push/subscription"), ("get", "/v1/push/mutes")):
        response = getattr(client, method)(path, content_type="application/json")
        assert response.status_code == 401
        assert response.json()["error"]["code"]


def test_push_is_off_without_a_vapid_subject(
    make_account: Any, push_service: PushServiceStandIn, settings: Any
) -> None:
    alice = make_account()
    settings.TALKEE_VAPID_SUBJECT = ""
    assert alice.client.get("/v1/push/vapid").json()["error"]["code"] == "push_disabled"
    response = alice.client.put("/v1/push/subscription", push_service.subscribe().as_json(), format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "push_disabled"


def test_mutes_are_per_device_and_per_chat(make_account: Any) -> None:
    alice, bob, eve = make_account(), make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    response = alice.client.put(f"/v1/push/mutes/{chat['id']}", {"until": until}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["chat_id"] == chat["id"]
    assert alice.client.put(f"/v1/push/mutes/{chat['id']}", {"always": True}, format="json").json()["until"] is None
    assert [m["chat_id"] for m in alice.client.get("/v1/push/mutes").json()] == [chat["id"]]
    assert bob.client.get("/v1/push/mutes").json() == []
    # the server learns only "device D muted chat C"
    assert list(ChatMute.objects.values_list("device_id", "chat_id", "until")) == [
        (alice.device_id, uuid.UUID(chat["id"]), None)
    ]
    # not a member: as if the chat did not exist
    answer = eve.client.put(f"/v1/push/mutes/{chat['id']}", {"always": True}, format="json")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "chat_not_found"
    for bad in ({}, {"always": False}, {"until": "yesterday"}, {"until": "2001-01-01T00:00:00Z"}):
        answer = alice.client.put(f"/v1/push/mutes/{chat['id']}", bad, format="json")
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_input", bad
    assert alice.client.delete(f"/v1/push/mutes/{chat['id']}").status_code == 204
    assert alice.client.get("/v1/push/mutes").json() == []


def test_revoking_a_device_deletes_its_subscription_and_mutes(
    make_account: Any, push_service: PushServiceStandIn
) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    subscribe(alice, push_service.subscribe())
    alice.client.put(f"/v1/push/mutes/{chat['id']}", {"always": True}, format="json")
    second = login(type(alice.client)(), alice.username, alice.password, DeviceKeys()).json()
    other = type(alice.client)()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {second['token']}")
    assert other.delete(f"/v1/devices/{alice.device_id}").status_code == 204
    assert not PushSubscription.objects.exists()
    assert not ChatMute.objects.exists()


def test_whether_calls_ring_in_muted_chats_is_a_choice_per_device(make_account: Any) -> None:
    alice = make_account()
    second = login(type(alice.client)(), alice.username, alice.password, DeviceKeys()).json()
    tablet = type(alice.client)()
    tablet.credentials(HTTP_AUTHORIZATION=f"Bearer {second['token']}")
    both = {"calls_when_muted": True, "mentions_when_muted": True}
    assert alice.client.get("/v1/push/preferences").json() == both  # the defaults
    answer = alice.client.put("/v1/push/preferences", {"calls_when_muted": False}, format="json")
    assert answer.status_code == 200 and answer.json() == {**both, "calls_when_muted": False}
    answer = alice.client.put("/v1/push/preferences", {"mentions_when_muted": False}, format="json")
    assert answer.status_code == 200 and answer.json() == {"calls_when_muted": False, "mentions_when_muted": False}
    assert alice.client.get("/v1/push/preferences").json() == {"calls_when_muted": False, "mentions_when_muted": False}
    assert tablet.get("/v1/push/preferences").json() == both
    # the server learns only "device D lets calls ring / mentions wake it in muted chats, or not"
    assert list(PushPreference.objects.values_list("device_id", "calls_when_muted", "mentions_when_muted")) == [
        (alice.device_id, False, False)
    ]
    for bad in ({}, {"calls_when_muted": "maybe"}, {"calls_when_muted": None}, {"mentions_when_muted": [1]}):
        answer = alice.client.put("/v1/push/preferences", bad, format="json")
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_input", bad
    assert tablet.delete(f"/v1/devices/{alice.device_id}").status_code == 204
    assert not PushPreference.objects.exists()
