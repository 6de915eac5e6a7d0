"""Verified identities (issue 20): a member's own client turns against the group. The test
plays Carol's modified client — a copy of her browser's vault, opened in the crypto harness
(a test-only page; the app never does this) — and has it commit the addition of a device
of hers that no identity key certified, with a Welcome for it. The server orders the
commit (it cannot read it). Alice's and Bob's clients refuse it, say in the chat that
Carol's device committed it, void that epoch and take Carol's committing device out with a
commit of their own, which the server accepts; the chat goes on for them, and neither
Carol's device nor the device she slipped in reads anything sent after it."""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from typing import Any

import pytest
from django.db import connection
from playwright.sync_api import expect

from apps.accounts.models import User
from apps.chats.models import Chat
from apps.devices.models import Device
from apps.messages.models import DeviceInbox, Message
from tests.conftest import json_call
from tests.e2e.app.conftest import PASSWORD, SLOW, Person, shot
from tests.e2e.crypto.conftest import Harness, HarnessError, b64, harness_url  # noqa: F401  (fixture)
from tests.support.vault import DUMP_VAULT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def offender_page(carol: Person, url: str) -> Harness:
    """The harness in Carol's own browser, holding a copy of her app's vault (unlocked with her password)."""
    saved = carol.page.evaluate(DUMP_VAULT, "talkee-vault")
    page = carol.context.new_page()
    page.goto(url)
    page.wait_for_function("() => window.talkeeHarness !== undefined")
    harness = Harness(page)
    assert harness.call("ready") is True
    assert harness.call("importIdb", "offender-vault", saved) == len(saved)
    return harness


def test_a_members_commit_adding_an_uncertified_device_is_refused_and_the_chat_goes_on(
    people: Any,
    harness_url: str,  # noqa: F811
) -> None:
    alice, bob, carol = people("alice"), people("bob"), people("carol")
    for person in (alice, bob, carol):
        person.sign_up()
    alice.create_group("Crew", [bob, carol])
    alice.say("Hello crew")
    for person in (bob, carol):
        person.open_chat("Crew")
        person.expect_message("Hello crew")
    carol.say("Carol is here")
    alice.expect_message("Carol is here")
    bob.expect_message("Carol is here")
    chat = Chat.objects.get(memberships__user__username__startswith=alice.name + "@", kind="group")
    chat_id = str(chat.pk)
    carol_user = User.objects.get(username__startswith=carol.name + "@")

    # Carol's modified client: her vault's copy, her session token, and a device of hers
    # with keys of its own and no certificate (the server lists it, as for any device
    # signed in without the recovery phrase and not approved).
    harness = offender_page(carol, harness_url)
    vault_id = harness.call("vaultUnlock", "offender-vault", PASSWORD)["id"]
    token = json.loads(harness.call("vaultGet", vault_id, "app/session"))["token"]
    ghost_id = str(uuid.uuid4())
    ghost_keys = harness.call("offender", "ghost", [carol_user.username, ghost_id])

    def register_ghost() -> None:
        Device.objects.create(
            user=carol_user,
            client_device_id=ghost_id,
            ed25519_pub=ghost_keys["ed25519Pub"],
            x25519_pub=ghost_keys["x25519Pub"],
            label="Firefox on Linux",
        )
        connection.close()

    writer = threading.Thread(target=register_ghost)
    writer.start()
    writer.join()
    ghost = Device.objects.get(client_device_id=ghost_id)
    assert ghost.certificate is None

    # The crafted commit (made outside the app's worker, whose validator would refuse to make it).
    chat.refresh_from_db()
    epoch = chat.epoch
    crafted = harness.call("offender", "craftAdd", [vault_id, chat_id, b64(ghost_keys["keyPackage"])])
    assert crafted["epoch"] == epoch and crafted["welcome"] is not None
    status, _ = json_call(
        alice.server.url,
        "POST",
        f"/v1/chats/{chat_id}/messages",
        {
            "client_message_id": uuid.uuid4().hex,
            "kind": "commit",
            "epoch": epoch,
            "ciphertext": base64.b64encode(crafted["commit"]).decode(),
            "welcome": {"device_ids": [ghost.pk], "payload": base64.b64encode(crafted["welcome"]).decode()},
        },
        token,
    )
    assert status == 201
    poisoned = Message.objects.filter(chat=chat, kind="commit").order_by("-seq").first()
    assert poisoned is not None and poisoned.epoch == epoch
    chat.refresh_from_db()
    assert chat.epoch == epoch + 1, "the server ordered it: it cannot tell"

    # The ghost really was let into that epoch by the Welcome (so what follows is a real test).
    [welcome] = DeviceInbox.objects.filter(device=ghost, kind=DeviceInbox.Kind.WELCOME)
    joined = harness.call("offender", "join", [ghost_id, b64(bytes(welcome.payload))])
    assert joined["groupId"] == chat_id and joined["epoch"] == epoch + 1
    assert f"{carol_user.username}:{ghost_id}" in joined["members"]

    # Alice's and Bob's clients refuse it and name the member whose device committed it.
    named = re.compile(rf"{carol.name}\S*'s device committed a change that brings in a device of {carol.name}\S* that")
    for person in (alice, bob):
        expect(person.page.get_by_role("alert", name="Security warnings")).to_contain_text(named, timeout=SLOW)
    shot(alice.page, "20j-refused-commit-desktop")
    alice.page.set_viewport_size({"width": 390, "height": 844})
    shot(alice.page, "20k-refused-commit-phone")
    alice.page.set_viewport_size({"width": 1280, "height": 800})

    # The server's epoch moved past the refused commit; the honest members' next commit (the
    # removal of Carol's committing device) is labelled with it and ordered — no stale_epoch loop.
    def removal_ordered() -> bool:
        chat.refresh_from_db()
        return chat.epoch >= epoch + 2

    deadline = alice.page.evaluate("Date.now()") + 60_000
    while not removal_ordered():
        assert alice.page.evaluate("Date.now()") < deadline, "no honest commit after the refused one"
        alice.page.wait_for_timeout(500)
    assert chat.epoch == epoch + 2, "one removal: the other honest member's lost the race and caught up"
    removal = Message.objects.filter(chat=chat, kind="commit", epoch=epoch + 1).get()

    # The chat goes on between Alice and Bob.
    alice.say("After the refused commit")
    bob.expect_message("After the refused commit")
    bob.say("Bob still reads and writes")
    alice.expect_message("Bob still reads and writes")

    # Neither the injected device nor Carol's committing state reads anything sent after it.
    after = list(Message.objects.filter(chat=chat, seq__gt=poisoned.seq).exclude(ciphertext=None).order_by("seq"))
    assert removal in after and len([m for m in after if m.kind == "application"]) >= 2
    for row in after:
        for who in ("ghost", "offender", "before"):
            if who == "before" and row.kind == "commit":
                # The state from before its own commit follows the removal — out of the group.
                harness.raw("offender", "read", [who, chat_id, b64(bytes(row.ciphertext))])
                continue
            with pytest.raises(HarnessError):
                harness.call("offender", "read", [who, chat_id, b64(bytes(row.ciphertext))])
    # Carol's own app device was taken out with it: it shows nothing sent after it.
    carol.page.wait_for_timeout(2000)
    expect(carol.message("After the refused commit")).to_have_count(0)
    expect(carol.message("Bob still reads and writes")).to_have_count(0)
