import json
import logging
import os
import re
import time

import pytest
from blake3 import blake3
from django.db import connection

from apps.core.logging import JsonFormatter
from apps.messages.models import Message, Reaction
from tests.conftest import b64, make_chat, send

pytestmark = pytest.mark.django_db

SECRET = os.urandom(32)
EDIT_HASH = b64(blake3(SECRET).digest())


def message_events(account, cursor: int = 0) -> list[dict]:
    events = account.client.get("/v1/sync", {"cursor": cursor, "timeout": 0}).json()["events"]
    return [e for e in events if e["type"] in ("event", "reaction")]


def test_edit_needs_the_secret(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    sent = send(alice, chat["id"], b"v1", edit_hash=EDIT_HASH).json()
    wrong = bob.client.patch(
        f"/v1/messages/{sent['id']}", {"edit_secret": b64(os.urandom(32)), "ciphertext": b64(b"forged")}, format="json"
    )
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "wrong_edit_secret"
    edited = alice.client.patch(
        f"/v1/messages/{sent['id']}", {"edit_secret": b64(SECRET), "ciphertext": b64(b"v2")}, format="json"
    )
    assert edited.status_code == 200
    assert edited.json()["edited_at"] is not None
    # bob's device learns of the edit through the stream: the latest state, once
    events = [e for e in message_events(bob) if e["message"]["id"] == sent["id"]]
    assert len(events) == 1
    assert events[0]["message"]["ciphertext"] == b64(b"v2")
    assert events[0]["message"]["edited_at"] is not None


def test_message_without_edit_hash_cannot_be_edited(make_account) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    sent = send(alice, chat["id"]).json()
    response = alice.client.patch(
        f"/v1/messages/{sent['id']}", {"edit_secret": b64(SECRET), "ciphertext": b64(b"x")}, format="json"
    )
    assert response.status_code == 403


def test_delete_by_author_secret_or_by_admin_only(make_account) -> None:
    owner, author, reader = make_account(), make_account(), make_account()
    chat = make_chat(owner, "group", author, reader)
    one = send(author, chat["id"], b"secret one", edit_hash=EDIT_HASH).json()
    two = send(author, chat["id"], b"secret two", edit_hash=EDIT_HASH).json()
    denied = reader.client.delete(f"/v1/messages/{one['id']}", {"edit_secret": b64(os.urandom(32))}, format="json")
    assert denied.status_code == 403
    denied_no_secret = reader.client.delete(f"/v1/messages/{one['id']}")
    assert denied_no_secret.status_code == 403
    assert (
        author.client.delete(f"/v1/messages/{one['id']}", {"edit_secret": b64(SECRET)}, format="json").json()["deleted"]
        is True
    )
    assert owner.client.delete(f"/v1/messages/{two['id']}").json()["deleted"] is True
    for message in Message.objects.filter(pk__in=[one["id"], two["id"]]):
        assert message.ciphertext is None
        assert message.deleted_at is not None
    tombstones = [e["message"] for e in message_events(reader)]
    assert {m["id"]: (m["deleted"], m["ciphertext"]) for m in tombstones} == {
        one["id"]: (True, None),
        two["id"]: (True, None),
    }


def test_outsiders_cannot_touch_messages(make_account) -> None:
    alice, mallory = make_account(), make_account()
    chat = make_chat(alice, "group")
    sent = send(alice, chat["id"], edit_hash=EDIT_HASH).json()
    assert (
        mallory.client.delete(f"/v1/messages/{sent['id']}", {"edit_secret": b64(SECRET)}, format="json").status_code
        == 404
    )
    assert mallory.client.post(f"/v1/messages/{sent['id']}/burn").status_code == 404
    assert (
        mallory.client.post(
            f"/v1/messages/{sent['id']}/reactions", {"ciphertext": b64(b"r"), "remove_hash": EDIT_HASH}, format="json"
        ).status_code
        == 404
    )


def test_reactions_are_opaque_and_removed_with_their_secret(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    sent = send(alice, chat["id"]).json()
    added = bob.client.post(
        f"/v1/messages/{sent['id']}/reactions",
        {"ciphertext": b64(b"sealed thumbs up"), "remove_hash": EDIT_HASH},
        format="json",
    )
    assert added.status_code == 201
    reaction_id = added.json()["id"]
    seen = [e["reaction"] for e in message_events(alice) if e["type"] == "reaction"]
    assert seen == [
        {"id": reaction_id, "message_id": sent["id"], "ciphertext": b64(b"sealed thumbs up"), "deleted": False}
    ]
    assert (
        alice.client.delete(
            f"/v1/reactions/{reaction_id}", {"remove_secret": b64(os.urandom(32))}, format="json"
        ).status_code
        == 204
    )  # alice owns the chat: admins may remove
    assert Reaction.objects.get(pk=reaction_id).ciphertext is None
    other = bob.client.post(
        f"/v1/messages/{sent['id']}/reactions", {"ciphertext": b64(b"heart"), "remove_hash": EDIT_HASH}, format="json"
    ).json()
    carol = make_account()
    alice.client.post(f"/v1/chats/{chat['id']}/members", {"users": [carol.address]}, format="json")
    assert (
        carol.client.delete(
            f"/v1/reactions/{other['id']}", {"remove_secret": b64(os.urandom(32))}, format="json"
        ).status_code
        == 403
    )
    assert (
        bob.client.delete(f"/v1/reactions/{other['id']}", {"remove_secret": b64(SECRET)}, format="json").status_code
        == 204
    )


def test_burn_on_read(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    normal = send(alice, chat["id"]).json()
    assert bob.client.post(f"/v1/messages/{normal['id']}/burn").status_code == 400
    burner = send(alice, chat["id"], b"read once", burn_on_read=True).json()
    assert bob.client.post(f"/v1/messages/{burner['id']}/burn").json()["deleted"] is True
    assert Message.objects.get(pk=burner["id"]).ciphertext is None


def test_sealed_sender_no_sender_column_and_no_sender_in_rows_or_logs(make_account, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    ids = [send(alice, chat["id"], edit_hash=EDIT_HASH).json()["id"] for _ in range(3)]
    columns = [
        c.name for c in connection.introspection.get_table_description(connection.cursor(), Message._meta.db_table)
    ]
    assert not [c for c in columns if any(w in c for w in ("sender", "user", "device", "author"))]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Message._meta.db_table}")
        rows = cursor.fetchall()
    identities = {alice.username, alice.address, str(alice.device_id), alice.device.client_device_id}
    for row in rows:
        for value in row:
            text = bytes(value).decode("latin-1") if isinstance(value, memoryview | bytes) else str(value)
            for identity in identities - {str(alice.device_id)}:
                assert identity not in text
    # nothing in the logs pairs a message id with who sent it
    # (each line as the operator's log gets it, without its time, duration and request id,
    # whose digits would match small ids by chance; ids are matched as whole words)
    formatter = JsonFormatter()

    def mentions(line: str, value: object) -> bool:
        return re.search(rf"(?<![\w-]){re.escape(str(value))}(?![\w-])", line) is not None

    for record in caplog.records:
        fields = {k: v for k, v in json.loads(formatter.format(record)).items() if k not in ("ts", "ms", "request_id")}
        line = json.dumps(fields)
        if any(mentions(line, i) for i in ids):
            assert not any(mentions(line, identity) for identity in identities), line


@pytest.mark.django_db(transaction=True)
def test_ttl_messages_are_purged_by_the_real_celery_task(make_account, celery_worker_process) -> None:
    from apps.messages.tasks import purge_stale_ciphertext

    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob, ttl_seconds=3600)
    short = send(alice, chat["id"], b"gone soon", ttl_seconds=1).json()
    chat_default = send(alice, chat["id"], b"chat default ttl").json()
    keep = Message.objects.get(pk=chat_default["id"])
    assert keep.expires_at is not None
    time.sleep(1.2)
    purge_stale_ciphertext.delay()
    deadline = time.monotonic() + 30
    while Message.objects.get(pk=short["id"]).ciphertext is not None:
        assert time.monotonic() < deadline, celery_worker_process.read_text()
        time.sleep(0.2)
    assert Message.objects.get(pk=short["id"]).deleted_at is not None
    assert Message.objects.get(pk=chat_default["id"]).ciphertext is not None
    assert "purge_stale_ciphertext" in celery_worker_process.read_text()
    tombstones = [e["message"] for e in message_events(bob) if e["message"]["id"] == short["id"]]
    assert tombstones[-1]["deleted"] is True
