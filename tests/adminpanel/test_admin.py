"""The operator's admin: block/unblock users, revoke devices, edit users — with the same
effects as the API (sessions end, sockets close), and only JSON log lines as the record:
Django's LogEntry table stays empty."""

import asyncio
import json
import logging
import re
import sys
from typing import Any

import pytest
import websockets
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.models import Session, User
from apps.core.logging import JsonFormatter
from apps.devices.models import Device, KeyPackage, RevokedDevice
from tests.conftest import DeviceKeys, b64, fake_keypackage, login
from tests.support.sockets import close_code

CHANGELIST_USERS = "/admin/accounts/user/"
CHANGELIST_DEVICES = "/admin/devices/device/"


@pytest.fixture
def operator(db: None) -> tuple[Client, User]:
    admin = User.objects.create_superuser("admin", "operator password 7b41")
    client = Client()
    client.force_login(admin)
    return client, admin


def run_action(client: Client, changelist: str, action: str, *pks: int) -> None:
    response = client.post(changelist, {"action": action, "_selected_action": [str(pk) for pk in pks]})
    assert response.status_code == 302, response.content[:500]
    assert response["Location"] == changelist


def in_thread(call: Any, *args: Any) -> Any:
    """Run a blocking admin request from the event loop; its DB connection is closed after."""

    def run() -> Any:
        try:
            return call(*args)
        finally:
            connection.close()

    return asyncio.to_thread(run)


async def next_of_type(socket: Any, kind: str) -> dict[str, Any]:
    """The next frame of this type, skipping others (replay, synced, presence)."""
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
        if frame["type"] == kind:
            return dict(frame)
        assert frame["type"] != "error", frame


async def open_socket(ws_url: str, token: str) -> Any:
    socket = await websockets.connect(f"{ws_url}/v1/ws")
    await socket.send(json.dumps({"type": "auth", "token": token, "cursor": 0}))
    await next_of_type(socket, "ready")
    return socket


def admin_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "talkee.admin"]


@pytest.mark.django_db(transaction=True)
def test_block_ends_sessions_and_sockets_unblock_lets_back_in(
    make_account: Any, operator: tuple[Client, User], live_server_daphne: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client, _admin = operator
    alice = make_account()
    bob = make_account()
    user = User.objects.get(username=alice.address)
    caplog.set_level(logging.INFO, logger="talkee.admin")

    async def block_while_connected() -> tuple[int, str]:
        alice_socket = await open_socket(live_server_daphne.ws_url, alice.token)
        bob_socket = await open_socket(live_server_daphne.ws_url, bob.token)
        await in_thread(run_action, client, CHANGELIST_USERS, "block_users", user.pk)
        code = await close_code(alice_socket)
        await bob_socket.send(json.dumps({"type": "ping"}))
        answer = (await next_of_type(bob_socket, "pong"))["type"]
        await bob_socket.close()
        return code, answer

    code, bob_answer = asyncio.run(block_while_connected())
    assert code == 4003
    assert bob_answer == "pong", "blocking alice must not touch bob's socket"

    user.refresh_from_db()
    assert user.is_blocked
    assert not Session.objects.filter(user=user).exists()
    stale = alice.client.get("/v1/devices")
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "unauthenticated"
    refused = login(APIClient(), alice.username, alice.password, alice.device)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "account_blocked"
    assert bob.client.get("/v1/devices").status_code == 200

    async def socket_with_old_token() -> int:
        socket = await websockets.connect(f"{live_server_daphne.ws_url}/v1/ws")
        await socket.send(json.dumps({"type": "auth", "token": alice.token, "cursor": 0}))
        return await close_code(socket)

    assert asyncio.run(socket_with_old_token()) == 4003

    run_action(client, CHANGELIST_USERS, "unblock_users", user.pk)
    user.refresh_from_db()
    assert not user.is_blocked
    again = login(APIClient(), alice.username, alice.password, alice.device)
    assert again.status_code == 200, again.content

    records = admin_records(caplog)
    assert [(r.what, r.model, r.object_id) for r in records] == [  # type: ignore[attr-defined]
        ("block", "accounts.User", str(user.pk)),
        ("unblock", "accounts.User", str(user.pk)),
    ]
    assert {r.who for r in records} == {"admin@localhost"}  # type: ignore[attr-defined]
    assert LogEntry.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_admin_revoke_is_the_same_cascade_as_the_api(
    make_account: Any, operator: tuple[Client, User], live_server_daphne: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client, _admin = operator
    alice = make_account()
    phone_keys = DeviceKeys(label="phone")
    phone = login(APIClient(), alice.username, alice.password, phone_keys).json()
    phone_client = APIClient()
    phone_client.credentials(HTTP_AUTHORIZATION=f"Bearer {phone['token']}")
    upload = phone_client.post("/v1/keypackages", {"keypackages": [b64(fake_keypackage())] * 4}, format="json")
    assert upload.status_code == 201
    caplog.set_level(logging.INFO, logger="talkee.admin")

    listing = client.get(CHANGELIST_DEVICES)
    assert listing.status_code == 200
    rows = re.findall(r"<tr>.*?</tr>", listing.content.decode(), flags=re.S)
    phone_row = next(r for r in rows if f">{phone['device_id']}<" in r and "phone" in r)
    assert re.search(r'<td class="field-keypackages_left">\s*4\s*</td>', phone_row), phone_row

    async def revoke_while_connected() -> tuple[int, str]:
        phone_socket = await open_socket(live_server_daphne.ws_url, phone["token"])
        laptop_socket = await open_socket(live_server_daphne.ws_url, alice.token)
        await in_thread(run_action, client, CHANGELIST_DEVICES, "revoke_devices", phone["device_id"])
        code = await close_code(phone_socket)
        await laptop_socket.send(json.dumps({"type": "ping"}))
        answer = (await next_of_type(laptop_socket, "pong"))["type"]
        await laptop_socket.close()
        return code, answer

    code, laptop_answer = asyncio.run(revoke_while_connected())
    assert code == 4001
    assert laptop_answer == "pong"
    assert not Device.objects.filter(pk=phone["device_id"]).exists()
    assert KeyPackage.objects.filter(device_id=phone["device_id"]).count() == 0
    assert not Session.objects.filter(device_id=phone["device_id"]).exists()
    assert RevokedDevice.objects.filter(ed25519_pub=bytes(phone_keys.signing.verify_key)).exists()
    assert phone_client.get("/v1/devices").status_code == 401
    comeback = login(APIClient(), alice.username, alice.password, phone_keys)
    assert comeback.status_code == 403
    assert comeback.json()["error"]["code"] == "device_revoked"
    assert [d["id"] for d in alice.client.get("/v1/devices").json()] == [alice.device_id]

    records = admin_records(caplog)
    assert [(r.who, r.what, r.model, r.object_id) for r in records] == [  # type: ignore[attr-defined]
        ("admin@localhost", "revoke", "devices.Device", str(phone["device_id"]))
    ]
    assert LogEntry.objects.count() == 0


@pytest.mark.django_db
def test_devices_cannot_be_deleted_or_added_around_revoke(make_account: Any, operator: tuple[Client, User]) -> None:
    client, _admin = operator
    alice = make_account()
    assert client.get(f"/admin/devices/device/{alice.device_id}/delete/").status_code == 403
    assert client.get("/admin/devices/device/add/").status_code == 403
    listing = client.get(CHANGELIST_DEVICES).content.decode()
    offered = re.findall(r'<option value="([^"]*)"', listing.split('name="action"', 1)[1].split("</select>", 1)[0])
    assert offered == ["", "revoke_devices"], "the operator is offered revoke, never delete"
    # A hand-made POST of Django's delete action is turned away like any action not offered.
    refused = client.post(
        CHANGELIST_DEVICES, {"action": "delete_selected", "_selected_action": [alice.device_id]}, follow=True
    )
    assert refused.redirect_chain == [(CHANGELIST_DEVICES, 302)]
    assert [str(m) for m in refused.context["messages"]] == ["No action selected."]
    assert f">{alice.device_id}<" in refused.content.decode(), "the device is still listed"
    assert Device.objects.filter(pk=alice.device_id).exists()
    assert LogEntry.objects.count() == 0


@pytest.mark.django_db
def test_editing_a_user_logs_a_json_line_not_a_logentry(
    make_account: Any, operator: tuple[Client, User], caplog: pytest.LogCaptureFixture
) -> None:
    client, _admin = operator
    alice = make_account()
    user = User.objects.get(username=alice.address)
    caplog.set_level(logging.INFO, logger="talkee.admin")
    change_url = f"/admin/accounts/user/{user.pk}/change/"

    form = client.get(change_url)
    assert form.status_code == 200
    assert alice.address.encode() in form.content
    saved = client.post(change_url, {"is_staff": "on"})
    assert saved.status_code == 302, saved.content[:2000]
    user.refresh_from_db()
    assert user.is_staff
    assert not user.is_superuser
    assert user.username == alice.address, "the username is read-only in the admin"

    records = admin_records(caplog)
    assert len(records) == 1
    record = records[0]
    assert (record.who, record.what, record.model, record.object_id) == (  # type: ignore[attr-defined]
        "admin@localhost",
        "change",
        "accounts.User",
        str(user.pk),
    )
    assert LogEntry.objects.count() == 0

    # The line an operator's log shipper receives: one JSON object, who/what/when.
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["logger"] == "talkee.admin"
    assert parsed["level"] == "INFO"
    assert parsed["msg"] == "admin action"
    assert parsed["who"] == "admin@localhost"
    assert parsed["what"] == "change"
    assert parsed["model"] == "accounts.User"
    assert parsed["object_id"] == str(user.pk)
    assert parsed["ts"].endswith("+00:00")
    assert alice.password not in line


@pytest.mark.django_db
def test_admin_actions_reach_stdout_as_json_lines(
    make_account: Any, operator: tuple[Client, User], capsys: pytest.CaptureFixture[str]
) -> None:
    """The handler settings.LOGGING installs writes each admin action as one JSON line."""
    client, _admin = operator
    alice = make_account()
    user = User.objects.get(username=alice.address)
    handlers = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert len(handlers) == 1, "settings.LOGGING must put one JSON handler on the root logger"
    handler = handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    # The handler holds the stdout that existed when logging was configured; point it at
    # the stdout this test captures, for the duration of the action.
    previous = handler.setStream(sys.stdout)
    try:
        capsys.readouterr()
        run_action(client, CHANGELIST_USERS, "block_users", user.pk)
        out = capsys.readouterr().out
    finally:
        handler.setStream(previous)  # type: ignore[arg-type]
    lines = [json.loads(line) for line in out.splitlines() if '"talkee.admin"' in line]
    assert {(x["who"], x["what"], x["model"], x["object_id"]) for x in lines} == {
        ("admin@localhost", "block", "accounts.User", str(user.pk))
    }
    assert all(x["msg"] == "admin action" and x["ts"] for x in lines)
    assert LogEntry.objects.count() == 0


@pytest.mark.django_db
def test_non_staff_cannot_use_the_admin(make_account: Any) -> None:
    alice = make_account()
    client = Client()
    client.force_login(User.objects.get(username=alice.address))
    response = client.get(CHANGELIST_USERS)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert not User.objects.get(username=alice.address).is_blocked


@pytest.mark.django_db
def test_a_user_with_devices_cannot_be_deleted_only_blocked(make_account: Any, operator: tuple[Client, User]) -> None:
    """Deleting would cascade to devices, which only revoke may remove (it kicks sockets)."""
    client, _admin = operator
    alice = make_account()
    user = User.objects.get(username=alice.address)
    confirm = {"action": "delete_selected", "_selected_action": [str(user.pk)], "post": "yes"}
    response = client.post(CHANGELIST_USERS, confirm)
    assert response.status_code == 403
    assert User.objects.filter(pk=user.pk).exists()
    assert Device.objects.filter(pk=alice.device_id).exists()
    assert alice.client.get("/v1/devices").status_code == 200
    assert LogEntry.objects.count() == 0
