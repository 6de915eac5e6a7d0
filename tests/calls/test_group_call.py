"""Group calls on a real Janus (Debian's janus, started here on loopback with a config dir
this test writes): POST /v1/chats/{chat}/group-call hands a member's device a single-use
ticket; the proxy socket on the instance's origin (/v1/group-call/ws, in a real daphne)
turns it into a Janus session with a Janus token of its own, for the ticket's room only."""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import LiveServer, make_chat, start_daphne, stop
from tests.support.api import assert_error_shape
from tests.support.janus import Janus, started_janus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def janus(tmp_path_factory: Any) -> Iterator[Janus]:
    sfu = started_janus(tmp_path_factory.mktemp("janus"))
    yield sfu
    sfu.stop()


@pytest.fixture(scope="module")
def proxy_server(django_db_setup: None, janus: Janus, tmp_path_factory: Any) -> Iterator[LiveServer]:
    env = {**janus.settings, "TALKEE_GROUP_CALL_MEMBER_CHECK_SECONDS": "0.5"}
    server = start_daphne(tmp_path_factory.mktemp("daphne-groupcall"), "daphne-groupcall", env)
    yield server
    stop(server.process)


@pytest.fixture
def sfu(settings: Any, janus: Janus) -> Janus:
    for name, value in janus.settings.items():
        setattr(settings, name, value)
    settings.TALKEE_GROUP_CALL_TICKET_SECONDS = 30
    return janus


def group_of_three(make_account: Any) -> tuple[Any, Any, Any, dict[str, Any]]:
    alice, bob, carol = make_account(), make_account(), make_account()
    return alice, bob, carol, make_chat(alice, "group", bob, carol)


def ticket_for(account: Any, chat_id: str) -> dict[str, Any]:
    response = account.client.post(f"/v1/chats/{chat_id}/group-call")
    assert response.status_code == 200, response.content
    return dict(response.json())


def open_proxy(server: LiveServer, ticket: str) -> tuple[ClientConnection, dict[str, Any]]:
    ws = connect(server.ws_url + "/v1/group-call/ws", subprotocols=["janus-protocol"], open_timeout=10)  # type: ignore[list-item]
    ws.send(json.dumps({"talkee": "ticket", "ticket": ticket}))
    return ws, json.loads(ws.recv(timeout=10))


def request(ws: ClientConnection, body: dict[str, Any]) -> dict[str, Any]:
    """A Janus request; the answer with its transaction (acks and events of others skipped)."""
    tx = f"t{time.monotonic_ns()}"
    ws.send(json.dumps({**body, "transaction": tx}))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answer = json.loads(ws.recv(timeout=10))
        if answer.get("transaction") == tx and answer.get("janus") != "ack":
            return dict(answer)
    raise AssertionError("no answer from Janus")


def join_as_publisher(ws: ClientConnection, room: int, display: str = "p") -> dict[str, Any]:
    session = request(ws, {"janus": "create"})
    assert session["janus"] == "success", session
    sid = session["data"]["id"]
    handle = request(ws, {"janus": "attach", "plugin": "janus.plugin.videoroom", "session_id": sid})
    assert handle["janus"] == "success", handle
    hid = handle["data"]["id"]
    joined = request(
        ws,
        {
            "janus": "message",
            "session_id": sid,
            "handle_id": hid,
            "body": {"request": "join", "ptype": "publisher", "room": room, "display": display},
        },
    )
    return {"session": sid, "handle": hid, "answer": joined}


def test_without_janus_group_calls_say_the_operator_has_not_enabled_them(make_account: Any, settings: Any) -> None:
    settings.TALKEE_JANUS_URL = ""
    settings.TALKEE_JANUS_ADMIN_URL = ""
    settings.TALKEE_JANUS_ADMIN_SECRET = ""
    alice, _bob, _carol, chat = group_of_three(make_account)
    error = assert_error_shape(alice.client.post(f"/v1/chats/{chat['id']}/group-call"), 404)
    assert error["code"] == "group_calls_disabled"
    assert "operator has not enabled group calls" in error["message"]


def test_members_get_one_e2ee_private_room_per_chat_and_tickets_that_differ(make_account: Any, sfu: Janus) -> None:
    alice, bob, _carol, chat = group_of_three(make_account)
    first, second = ticket_for(alice, chat["id"]), ticket_for(bob, chat["id"])
    assert first["room"] == second["room"]
    assert first["ticket"] != second["ticket"]
    assert first["path"] == "/v1/group-call/ws" and first["expires_in"] == 30
    rooms = sfu.admin(
        "message_plugin", plugin="janus.plugin.videoroom", request={"request": "list", "admin_key": sfu.admin_secret}
    )["response"]["list"]
    (room,) = [r for r in rooms if r["room"] == first["room"]]
    assert room["require_e2ee"] is True
    assert room["is_private"] is True
    assert room["lock_record"] is True
    # Janus learns nothing about the chat or its members.
    assert chat["id"] not in json.dumps(rooms)
    assert alice.username not in json.dumps(rooms)
    # Another chat has another room.
    other = make_chat(alice, "group", bob)
    assert ticket_for(alice, other["id"])["room"] != first["room"]


def test_non_members_removed_members_and_direct_chats_are_refused(make_account: Any, sfu: Janus) -> None:
    alice, bob, carol, chat = group_of_three(make_account)
    mallory = make_account()
    assert_error_shape(mallory.client.post(f"/v1/chats/{chat['id']}/group-call"), 404)
    assert alice.client.delete(f"/v1/chats/{chat['id']}/members/{carol.address}").status_code == 204
    assert assert_error_shape(carol.client.post(f"/v1/chats/{chat['id']}/group-call"), 404)["code"] == "chat_not_found"
    direct = make_chat(alice, "direct", bob)
    assert assert_error_shape(alice.client.post(f"/v1/chats/{direct['id']}/group-call"), 400)["code"] == "not_a_group"
    assert_error_shape(alice.client.post("/v1/chats/not-a-uuid/group-call"), 404)


def test_a_ticket_opens_one_janus_session_whose_token_lives_as_long_as_the_socket(
    make_account: Any, sfu: Janus, proxy_server: LiveServer
) -> None:
    alice, _bob, _carol, chat = group_of_three(make_account)
    grant = ticket_for(alice, chat["id"])
    before = sfu.tokens()
    ws, ready = open_proxy(proxy_server, grant["ticket"])
    assert ready == {"talkee": "ready", "room": grant["room"]}
    joined = join_as_publisher(ws, grant["room"])
    data = joined["answer"]["plugindata"]["data"]
    assert data["videoroom"] == "joined" and data["room"] == grant["room"], joined
    live = sfu.tokens() - before
    assert len(live) == 1  # one Janus token for this socket, never shown to the client
    assert grant["ticket"] not in live
    ws.close()
    deadline = time.monotonic() + 10
    while sfu.tokens() & live and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sfu.tokens() & live, "the Janus token outlived its socket"

    # Replayed: the ticket was used once.
    again, refused = open_proxy(proxy_server, grant["ticket"])
    assert refused == {"talkee": "refused", "code": "ticket_invalid"}
    with pytest.raises(ConnectionClosed) as closed:
        again.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


def test_expired_unknown_and_revoked_tickets_are_refused(
    make_account: Any, sfu: Janus, settings: Any, proxy_server: LiveServer
) -> None:
    alice, bob, carol, chat = group_of_three(make_account)
    settings.TALKEE_GROUP_CALL_TICKET_SECONDS = 1
    expired = ticket_for(alice, chat["id"])
    settings.TALKEE_GROUP_CALL_TICKET_SECONDS = 30
    removed = ticket_for(carol, chat["id"])
    time.sleep(2)
    tokens = sfu.tokens()
    for ticket in (expired["ticket"], "x" * 43, "short"):
        ws, answer = open_proxy(proxy_server, ticket)
        assert answer == {"talkee": "refused", "code": "ticket_invalid"}
        ws.close()
    # Carol is removed after her ticket was issued and before she uses it.
    assert alice.client.delete(f"/v1/chats/{chat['id']}/members/{carol.address}").status_code == 204
    ws, answer = open_proxy(proxy_server, removed["ticket"])
    assert answer == {"talkee": "refused", "code": "ticket_invalid"}
    ws.close()
    assert sfu.tokens() == tokens  # no Janus token was added for any of them
    # Without the ticket frame first, nothing reaches Janus.
    ws = connect(proxy_server.ws_url + "/v1/group-call/ws", subprotocols=["janus-protocol"])  # type: ignore[list-item]
    ws.send(json.dumps({"janus": "create", "transaction": "x"}))
    assert json.loads(ws.recv(timeout=10)) == {"talkee": "refused", "code": "ticket_required"}
    ws.close()
    _ = bob


def test_a_member_removed_during_the_call_loses_the_janus_connection(
    make_account: Any, sfu: Janus, proxy_server: LiveServer
) -> None:
    alice, _bob, carol, chat = group_of_three(make_account)
    grant = ticket_for(carol, chat["id"])
    before = sfu.tokens()
    ws, ready = open_proxy(proxy_server, grant["ticket"])
    assert ready["talkee"] == "ready"
    joined = join_as_publisher(ws, grant["room"])
    assert joined["answer"]["plugindata"]["data"]["videoroom"] == "joined", joined
    live = sfu.tokens() - before
    assert len(live) == 1
    assert alice.client.delete(f"/v1/chats/{chat['id']}/members/{carol.address}").status_code == 204
    deadline = time.monotonic() + 10
    frames: list[dict[str, Any]] = []
    with pytest.raises(ConnectionClosed) as closed:
        while time.monotonic() < deadline:
            frames.append(json.loads(ws.recv(timeout=10)))
    assert {"talkee": "refused", "code": "not_a_member"} in frames
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    deadline = time.monotonic() + 10
    while sfu.tokens() & live and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sfu.tokens() & live
    participants = sfu.admin(
        "message_plugin",
        plugin="janus.plugin.videoroom",
        request={"request": "listparticipants", "room": grant["room"]},
    )["response"]["participants"]
    assert participants == []  # Janus dropped her session with the connection


def test_janus_refuses_requests_without_a_token_and_with_a_ticket_as_token(make_account: Any, sfu: Janus) -> None:
    alice, _bob, _carol, chat = group_of_three(make_account)
    grant = ticket_for(alice, chat["id"])
    with connect(sfu.ws_url, subprotocols=["janus-protocol"]) as ws:  # type: ignore[list-item]
        for extra in ({}, {"token": grant["ticket"]}, {"token": ""}):
            ws.send(json.dumps({"janus": "create", "transaction": "t", **extra}))
            answer = json.loads(ws.recv(timeout=10))
            assert answer["janus"] == "error" and answer["error"]["code"] == 403, answer


def test_the_proxy_keeps_a_ticket_to_its_own_room_and_to_videoroom(
    make_account: Any, sfu: Janus, proxy_server: LiveServer
) -> None:
    alice, bob, _carol, chat = group_of_three(make_account)
    other_chat = make_chat(bob, "group", make_account(), make_account())
    other_room = ticket_for(bob, other_chat["id"])["room"]
    grant = ticket_for(alice, chat["id"])
    ws, ready = open_proxy(proxy_server, grant["ticket"])
    assert ready["talkee"] == "ready"
    joined = join_as_publisher(ws, other_room)
    assert joined["answer"]["janus"] == "error" and joined["answer"]["error"]["reason"] == "another room"
    sid = joined["session"]
    for body in (
        {"janus": "attach", "plugin": "janus.plugin.echotest", "session_id": sid},
        {"janus": "message", "session_id": sid, "handle_id": joined["handle"], "body": {"request": "list"}},
        {
            "janus": "message",
            "session_id": sid,
            "handle_id": joined["handle"],
            "body": {"request": "create", "room": grant["room"]},
        },
        {
            "janus": "message",
            "session_id": sid,
            "handle_id": joined["handle"],
            "body": {"request": "destroy", "room": grant["room"]},
        },
        {"janus": "info"},
        {"janus": "create", "admin_secret": sfu.admin_secret},
    ):
        answer = request(ws, body)
        assert answer["janus"] == "error" and answer["error"]["code"] == 403, (body, answer)
    ws.close()


def test_the_group_call_is_in_the_openapi_schema(make_account: Any) -> None:
    schema = make_account().client.get("/v1/schema?format=json").json()
    assert "post" in schema["paths"]["/v1/chats/{chat_id}/group-call"]
