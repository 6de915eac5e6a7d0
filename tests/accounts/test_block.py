"""Blocking someone: the server refuses what it can see — their new direct chat with me,
their invitation of me to a group, their messages in our direct chat — and my block list is
mine alone. In groups the server cannot tell who wrote a message; the app hides it."""

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import Block, User
from apps.chats.models import Membership
from apps.messages.models import Message
from tests.conftest import make_chat, send

pytestmark = pytest.mark.django_db


def block(account, address: str):
    return account.client.post("/v1/blocks", {"user": address}, format="json")


def test_a_blocked_user_cannot_write_in_our_direct_chat_until_unblocked(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    assert send(alice, chat["id"], b"before").status_code == 201
    answer = block(bob, alice.address)
    assert answer.status_code == 201, answer.content
    assert answer.json()["user"] == alice.address
    refused = send(alice, chat["id"], b"while blocked")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_accepted"
    assert not Message.objects.filter(ciphertext=b"while blocked").exists()
    # Commits still go (the MLS group stays whole for when the block is lifted).
    assert send(alice, chat["id"], b"a commit", kind="commit", epoch=0).status_code == 201
    # Bob may still write to Alice; only what Alice sends to Bob is refused.
    assert send(bob, chat["id"], b"from bob").status_code == 201
    assert bob.client.delete(f"/v1/blocks/{alice.address}").status_code == 204
    assert send(alice, chat["id"], b"after").status_code == 201


def test_a_blocked_user_cannot_start_a_direct_chat_or_invite_me(make_account) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    assert block(bob, alice.username).status_code == 201  # a local name works too
    answer = alice.client.post("/v1/chats", {"kind": "direct", "members": [bob.address]}, format="json")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "not_accepted"
    # A group with Bob in it: refused as a whole, nobody is added — when made, or later.
    answer = alice.client.post("/v1/chats", {"kind": "group", "members": [carol.address, bob.address]}, format="json")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "not_accepted", answer.content
    assert not Membership.objects.filter(user__username=carol.address).exists()
    answer = alice.client.post("/v1/chats", {"kind": "group", "members": [carol.address]}, format="json")
    group = answer.json()["id"]
    invite = alice.client.post(f"/v1/chats/{group}/members", {"users": [bob.address, carol.address]}, format="json")
    assert invite.status_code == 403
    assert invite.json()["error"]["code"] == "not_accepted"
    assert not Membership.objects.filter(chat_id=group, user__username=bob.address).exists()
    # Carol, not blocked, adds Bob; someone else's block of Alice does not matter to Carol.
    assert make_chat(carol, "direct", bob)["kind"] == "direct"
    # In a group both are in, Alice writes (the server cannot tell who wrote it: Bob's app hides it).
    assert alice.client.post(f"/v1/chats/{group}/members", {"users": [carol.address]}, format="json").status_code
    shared = make_chat(carol, "group", alice, bob)
    assert send(alice, shared["id"], b"in a group").status_code == 201


def test_the_block_list_is_private(make_account) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    assert block(bob, alice.address).status_code == 201
    assert block(bob, alice.address).status_code == 201  # twice is one block
    assert block(bob, carol.address).status_code == 201
    listed = bob.client.get("/v1/blocks").json()
    assert [b["user"] for b in listed] == [alice.address, carol.address]
    # Alice and Carol see only their own (empty) lists; nobody else's list has an address.
    assert alice.client.get("/v1/blocks").json() == []
    assert carol.client.get("/v1/blocks").json() == []
    assert APIClient().get("/v1/blocks").status_code == 401
    # Unblocking someone else's block is not possible: Alice "unblocks" Bob — her own list.
    assert alice.client.delete(f"/v1/blocks/{bob.address}").status_code == 204
    assert Block.objects.filter(blocker__username=bob.address).count() == 2


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"user": "SELF"}, 400, "cannot_block_self"),
        ({"user": "nobody-here"}, 404, "user_not_found"),
        ({"user": "not an address!"}, 400, None),
        ({"user": 5}, 400, None),
        ({}, 400, None),
        ({"user": "x" * 5000}, 400, None),
    ],
)
def test_bad_block_requests_answer_in_the_error_shape(make_account, body, status, code) -> None:
    alice = make_account()
    body = {k: (alice.address if v == "SELF" else v) for k, v in body.items()}
    answer = alice.client.post("/v1/blocks", body, format="json")
    assert answer.status_code == status, answer.content
    assert answer.json()["error"]["message"]
    if code is not None:
        assert answer.json()["error"]["code"] == code
    assert not Block.objects.exists()


@pytest.mark.parametrize(("address", "status"), [("nobody-here", 404), ("not an address!", 400), ("SELF", 400)])
def test_bad_unblock_requests_answer_in_the_error_shape(make_account, address, status) -> None:
    alice = make_account()
    address = alice.address if address == "SELF" else address
    answer = alice.client.delete(f"/v1/blocks/{address}")
    assert answer.status_code == status, answer.content
    assert answer.json()["error"]["message"]


def test_a_deleted_account_takes_its_blocks_with_it(make_account) -> None:
    alice, bob = make_account(), make_account()
    assert block(bob, alice.address).status_code == 201
    assert bob.client.post("/v1/accounts/me/delete", {"password": bob.password}, format="json").status_code == 204
    assert not Block.objects.exists()
    assert User.objects.filter(username=alice.address).exists()


@pytest.mark.django_db(transaction=True)
def test_a_blocked_user_can_neither_react_edit_nor_call_in_our_direct_chat(make_account, live_server_daphne) -> None:
    """Besides messages: reactions, edits of their old messages and call signals of a
    blocked person in a direct chat are refused by the server; nothing reaches Bob."""
    import asyncio
    import os

    from blake3 import blake3

    from apps.messages.models import Reaction
    from tests.conftest import b64
    from tests.messages.wsclient import SocketDevice

    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    secret = os.urandom(32)
    old = send(alice, chat["id"], b"before", edit_hash=b64(blake3(secret).digest())).json()
    bobs = send(bob, chat["id"], b"from bob").json()
    assert block(bob, alice.address).status_code == 201

    reaction = {"ciphertext": b64(b"sealed reaction"), "remove_hash": b64(os.urandom(32))}
    answer = alice.client.post(f"/v1/messages/{bobs['id']}/reactions", reaction, format="json")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "not_accepted"
    edit = {"edit_secret": b64(secret), "ciphertext": b64(b"edited while blocked")}
    answer = alice.client.patch(f"/v1/messages/{old['id']}", edit, format="json")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "not_accepted"
    assert not Reaction.objects.exists()
    assert bytes(Message.objects.get(pk=old["id"]).ciphertext) == b"before"

    async def ring() -> tuple[dict, bool]:
        caller = SocketDevice(live_server_daphne.ws_url, alice.token)
        callee = SocketDevice(live_server_daphne.ws_url, bob.token)
        await caller.connect()
        await callee.connect()
        await caller.send({"type": "call", "chat_id": chat["id"], "payload": b64(os.urandom(100))})
        error = await caller.until(lambda f: f["type"] == "error")
        try:
            await callee.until(lambda f: f["type"] == "call", timeout=1.5)
            rang = True
        except TimeoutError:
            rang = False
        await caller.close()
        await callee.close()
        return error, rang

    error, rang = asyncio.run(ring())
    assert (error["code"], error["chat_id"]) == ("not_accepted", chat["id"]), error  # the caller's app ends that call
    assert not rang
    # Bob still reacts to Alice's message and may lift the block.
    answer = bob.client.post(f"/v1/messages/{old['id']}/reactions", reaction, format="json")
    assert answer.status_code == 201, answer.content
