import os
import threading
import uuid
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.chats.models import Chat
from apps.messages.models import Message
from tests.conftest import DeviceKeys, b64, login, make_chat, send, token_client

pytestmark = pytest.mark.django_db


def test_send_returns_id_and_seq_and_resend_returns_the_original(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    first = send(alice, chat["id"], b"one", client_message_id="cmid-0001")
    assert first.status_code == 201
    assert first.json()["seq"] == 1
    again = send(alice, chat["id"], b"one, resent after a lost ack", client_message_id="cmid-0001")
    assert again.status_code == 200
    assert again.json() == first.json()
    second = send(bob, chat["id"], b"two")
    assert second.json()["seq"] == 2
    assert Message.objects.count() == 2
    assert bytes(Message.objects.get(pk=first.json()["id"]).ciphertext) == b"one"


def test_only_members_send_and_channels_are_read_only_for_members(make_account) -> None:
    owner, admin, member, outsider = make_account(), make_account(), make_account(), make_account()
    channel = make_chat(owner, "channel", member)
    owner.client.post(f"/v1/chats/{channel['id']}/members", {"users": [admin.address], "role": "admin"}, format="json")
    assert send(outsider, channel["id"]).status_code == 404
    refused = send(member, channel["id"])
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "channel_read_only"
    assert send(admin, channel["id"]).status_code == 201
    assert send(owner, channel["id"]).status_code == 201
    # members still take part in the MLS group: their commits are accepted
    assert send(member, channel["id"], kind="commit", epoch=0).status_code == 201


@pytest.mark.parametrize(
    ("patch", "code"),
    [
        ({"ciphertext": "not base64!!"}, "invalid_input"),
        ({"kind": "gossip"}, "invalid_input"),
        ({"client_message_id": None}, "invalid_input"),
        ({"epoch": -1}, "invalid_input"),
        ({"epoch": "zero"}, "invalid_input"),
        ({"epoch": 2**63}, "invalid_input"),  # past a bigint: it reached PostgreSQL and was a 500
        ({"welcome": {"device_ids": [2**63], "payload": b64(b"w")}}, "invalid_input"),
        ({"edit_hash": b64(b"short")}, "invalid_input"),
        ({"welcome": {"device_ids": [], "payload": b64(b"w")}}, "invalid_input"),
    ],
)
def test_bad_messages_get_a_clear_400(make_account, patch, code) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    body = {"client_message_id": uuid.uuid4().hex, "kind": "application", "epoch": 0, "ciphertext": b64(b"x")}
    body.update(patch)
    response = alice.client.post(f"/v1/chats/{chat['id']}/messages", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert Message.objects.count() == 0


def test_missing_fields_are_named(make_account) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    response = alice.client.post(f"/v1/chats/{chat['id']}/messages", {"kind": "application"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"client_message_id", "epoch", "ciphertext"}


def test_size_caps_application_small_handshake_large(make_account) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    assert send(alice, chat["id"], os.urandom(66 * 1024), kind="application").status_code == 201
    too_big = send(alice, chat["id"], os.urandom(66 * 1024 + 1), kind="application")
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "message_too_large"
    big_commit = send(alice, chat["id"], os.urandom(4 * 1024 * 1024), kind="commit", epoch=0)
    assert big_commit.status_code == 201
    assert len(bytes(Message.objects.get(pk=big_commit.json()["id"]).ciphertext)) == 4 * 1024 * 1024


def test_commit_advances_the_epoch_and_stale_commits_get_409(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    assert send(alice, chat["id"], kind="commit", epoch=0).status_code == 201
    stale = send(bob, chat["id"], kind="commit", epoch=0)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_epoch"
    assert Chat.objects.get(pk=chat["id"]).epoch == 1
    assert send(bob, chat["id"], kind="commit", epoch=1).status_code == 201
    assert alice.client.get(f"/v1/chats/{chat['id']}").json()["epoch"] == 2


def test_resent_commit_after_lost_ack_is_not_a_conflict(make_account) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    first = send(alice, chat["id"], kind="commit", epoch=0, client_message_id="commit-0001")
    again = send(alice, chat["id"], kind="commit", epoch=0, client_message_id="commit-0001")
    assert again.status_code == 200
    assert again.json() == first.json()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_commits_exactly_one_wins(make_account) -> None:
    assert connection.vendor == "postgresql"
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def commit(account) -> None:
        try:
            barrier.wait()
            results.append(send(account, chat["id"], kind="commit", epoch=0).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=commit, args=(a,)) for a in (alice, bob)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409]
    assert Chat.objects.get(pk=chat["id"]).epoch == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_get_gap_free_ordered_seqs(make_account) -> None:
    senders = [make_account() for _ in range(6)]
    chat = make_chat(senders[0], "group", *senders[1:])
    barrier = threading.Barrier(len(senders))
    errors: list[object] = []

    def burst(account) -> None:
        try:
            barrier.wait()
            for _ in range(15):
                response = send(account, chat["id"])
                if response.status_code != 201:
                    errors.append(response.content)
        finally:
            connection.close()

    threads = [threading.Thread(target=burst, args=(a,)) for a in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = list(Message.objects.filter(chat_id=chat["id"]).order_by("id").values_list("seq", "pos"))
    assert sorted(seq for seq, _ in rows) == list(range(1, 91))
    # stream positions follow commit order: sorting by seq sorts by position too
    by_seq = sorted(rows)
    assert [pos for _, pos in by_seq] == sorted(pos for _, pos in rows)


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_store_one_message(make_account) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    clients = [token_client(alice.token) for _ in range(6)]
    barrier = threading.Barrier(len(clients))
    answers: list[tuple[int, dict]] = []

    def resend(client: APIClient) -> None:
        try:
            barrier.wait()
            response = client.post(
                f"/v1/chats/{chat['id']}/messages",
                {"client_message_id": "same-id-123", "kind": "application", "epoch": 0, "ciphertext": b64(b"x")},
                format="json",
            )
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=resend, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(status for status, _ in answers) == Counter({201: 1, 200: 5})
    assert len({(body["id"], body["seq"]) for _, body in answers}) == 1
    assert Message.objects.filter(chat_id=chat["id"]).count() == 1


def test_welcome_reaches_only_the_addressed_devices(make_account) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    bob_phone = login(APIClient(), bob.username, bob.password, DeviceKeys()).json()
    chat = make_chat(alice, "group", bob, carol)
    welcome = {"device_ids": [bob.device_id], "payload": b64(b"welcome for bob's laptop")}
    assert send(alice, chat["id"], kind="commit", epoch=0, welcome=welcome).status_code == 201

    def welcomes(client: APIClient) -> list[str]:
        events = client.get("/v1/sync", {"cursor": 0, "timeout": 0}).json()["events"]
        return [e["payload"] for e in events if e["type"] == "device_event" and e["kind"] == "welcome"]

    assert welcomes(bob.client) == [b64(b"welcome for bob's laptop")]
    assert welcomes(token_client(bob_phone["token"])) == []
    assert welcomes(carol.client) == []
    assert welcomes(alice.client) == []


def test_welcome_to_a_stranger_device_is_refused(make_account) -> None:
    alice, bob, stranger = make_account(), make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    response = send(
        alice, chat["id"], kind="commit", epoch=0, welcome={"device_ids": [stranger.device_id], "payload": b64(b"w")}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_welcome"


def test_late_member_sees_only_what_was_sent_after_joining(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group")
    send(alice, chat["id"], b"before bob")
    alice.client.post(f"/v1/chats/{chat['id']}/members", {"users": [bob.address]}, format="json")
    after = send(alice, chat["id"], b"after bob").json()
    history = bob.client.get(f"/v1/chats/{chat['id']}/messages").json()["messages"]
    assert [m["id"] for m in history] == [after["id"]]
    events = bob.client.get("/v1/sync", {"cursor": 0, "timeout": 0}).json()["events"]
    assert [e["message"]["id"] for e in events if e["type"] == "event"] == [after["id"]]


def test_history_pages_forward_and_backward(make_account) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    ids = [send(alice, chat["id"]).json()["id"] for _ in range(7)]
    page = alice.client.get(f"/v1/chats/{chat['id']}/messages", {"after_seq": 2, "limit": 3}).json()["messages"]
    assert [m["id"] for m in page] == ids[2:5]
    older = alice.client.get(f"/v1/chats/{chat['id']}/messages", {"before_seq": 7, "limit": 2}).json()["messages"]
    assert [m["seq"] for m in older] == [5, 6]
    assert alice.client.get(f"/v1/chats/{chat['id']}/messages", {"limit": 0}).status_code == 400


def test_a_plain_send_is_one_statement_and_a_resend_leaves_no_gap(make_account) -> None:
    """The common send (application, no files, a chat ordered here) checks membership,
    takes the seq and the stream position and stores the row in one SQL statement."""
    from django.test.utils import CaptureQueriesContext

    from apps.devices.models import Device
    from apps.messages.services import do_send_message

    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    alice_id, bob_id = (Device.objects.get(pk=a.device_id).user_id for a in (alice, bob))
    fields = {"kind": "application", "epoch": 0, "ciphertext": b"x" * 256}
    do_send_message(bob_id, chat["id"], client_message_id="warm-up-1", **fields)
    with CaptureQueriesContext(connection) as queries:
        sent = do_send_message(alice_id, chat["id"], client_message_id="plain-001", **fields)
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 1, statements
    assert (sent.seq, sent.created) == (2, True)
    again = do_send_message(alice_id, chat["id"], client_message_id="plain-001", **fields)
    assert (again.id, again.seq, again.created) == (sent.id, 2, False)
    assert do_send_message(bob_id, chat["id"], client_message_id="plain-002", **fields).seq == 3
    assert Chat.objects.get(pk=chat["id"]).next_seq == 4


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/sync/ack", {"cursor": 2**63}),
        ("/v1/device-sync/bundle", {"to_device_id": 2**63, "chat_id": str(uuid.uuid4()), "ciphertext": b64(b"x")}),
        ("/v1/keypackages/claim", {"users": ["nobody"], "device_ids": [2**63]}),
        ("/v1/blobs", {"chat_id": str(uuid.uuid4()), "size": 2**63}),
    ],
)
def test_numbers_past_a_bigint_are_a_400(make_account, path: str, body: dict) -> None:
    alice = make_account()
    response = alice.client.post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_input"


def test_history_positions_past_a_bigint_are_a_400(make_account) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    for query in (f"after_seq={2**63}", f"before_seq={2**63}"):
        response = alice.client.get(f"/v1/chats/{chat['id']}/messages?{query}")
        assert response.status_code == 400, response.content
