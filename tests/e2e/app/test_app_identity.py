"""Verified identities (issue 20), the attacker being the server: a test acting as the
operator, with full database access, slips a device of its own (real keys, a real MLS
KeyPackage) in for Bob and announces it. Neither Bob's nor Alice's client adds it — it has
no certificate by Bob's identity key — Alice's chat says so, the chat keeps working, and
the ghost can decrypt nothing the server delivered to it."""

from __future__ import annotations

import base64
import re
import threading
import uuid
from typing import Any

import pytest
from django.db import connection, transaction
from playwright.sync_api import expect

from apps.accounts.models import User
from apps.chats.models import Chat
from apps.devices.models import Device, IdentityKey, KeyPackage
from apps.devices.services import notify_device_change
from apps.messages.models import DeviceInbox, Message
from tests.e2e.app.conftest import PASSWORD, SLOW, assert_private, pair
from tests.e2e.crypto.conftest import Harness, HarnessError, harness_url  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WARNING = re.compile(r"A device the server announced for bob\S* was not added")


def test_the_operator_cannot_slip_a_ghost_device_into_a_chat(people: Any, harness_url: str) -> None:  # noqa: F811
    alice, bob = pair(people)
    chat = Chat.objects.get(memberships__user__username__startswith=alice.name + "@")
    bob_user = User.objects.get(username__startswith=bob.name + "@")
    # Sign-up made Bob's identity key on his device and certified it; the server holds only public halves.
    assert IdentityKey.objects.filter(user=bob_user).exists()
    assert Device.objects.get(user=bob_user).certificate is not None

    # The operator's ghost: its own device keys and a genuine KeyPackage for `bob@…:<ghost id>`.
    harness_page = alice.context.new_page()
    harness_page.goto(harness_url)
    harness_page.wait_for_function("window.talkeeHarness !== undefined")
    ghost_worker = Harness(harness_page).worker()
    ghost_id = str(uuid.uuid4())
    keys = ghost_worker.setupDevice(
        {"password": PASSWORD, "user": bob_user.username, "deviceId": ghost_id, "dbName": "ghost-vault"}
    )
    [ghost_package] = ghost_worker.makeKeyPackages(1)
    commits_before = Message.objects.filter(chat=chat, kind="commit").count()

    def inject() -> None:
        """The operator's writes (in a thread of their own: the channel layer is async)."""
        with transaction.atomic():
            ghost = Device.objects.create(
                user=bob_user,
                client_device_id=ghost_id,
                ed25519_pub=base64.b64decode(keys["ed25519Pub"]),
                x25519_pub=base64.b64decode(keys["x25519Pub"]),
                label="Firefox on Linux",
            )
            KeyPackage.objects.create(device=ghost, data=ghost_package)
            notify_device_change(ghost, "added")
        connection.close()

    operator = threading.Thread(target=inject)
    operator.start()
    operator.join()
    ghost = Device.objects.get(client_device_id=ghost_id)

    # Bob's device (its sibling) refuses first; after the siblings' turns Alice's device tries and refuses too.
    alice.open_chat(bob.name)
    expect(alice.page.get_by_role("alert", name="Security warnings")).to_contain_text(WARNING, timeout=60_000)
    bob.open_chat(alice.name)
    expect(bob.page.get_by_role("alert", name="Security warnings")).to_contain_text(WARNING, timeout=SLOW)
    assert Message.objects.filter(chat=chat, kind="commit").count() == commits_before, "nobody committed the ghost"

    # The chat goes on between the real devices.
    alice.say("Only for the real Bob")
    bob.expect_message("Only for the real Bob")
    bob.say("Real Bob here")
    alice.expect_message("Real Bob here")

    # Everything the server would deliver to the ghost: its inbox, and every ciphertext of the chat.
    delivered = list(DeviceInbox.objects.filter(device=ghost))
    assert not [e for e in delivered if e.kind == DeviceInbox.Kind.WELCOME], "no Welcome was made for the ghost"
    for entry in delivered:
        if entry.payload is not None:
            with pytest.raises(HarnessError):
                ghost_worker.joinFromWelcome(bytes(entry.payload))
    rows = list(Message.objects.filter(chat=chat).exclude(ciphertext=None))
    assert rows
    for row in rows:
        with pytest.raises(HarnessError):
            ghost_worker.receive(str(chat.id), bytes(row.ciphertext))
    assert ghost_worker.listGroups() == []

    # Privacy: the phrase the identity keys come from is nowhere on the server (database, log, blobs).
    assert_private(alice.server, [" ".join(bob.words), " ".join(alice.words)])
