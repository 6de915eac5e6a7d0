"""Key-log heads compared between clients (issue 20). The operator shows Bob's browser a
different key log for Alice than it shows Alice's (a split view: one more entry, chained
correctly, so Bob's own check of the log passes). The two clients tell each other, in an
encrypted control message of their chat, the heads they saw; Alice's client looks at her
log again, finds the server shows her less than it showed Bob, and the chat says so."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest
from blake3 import blake3
from playwright.sync_api import Route, expect

from apps.accounts.models import User
from apps.messages.models import Message
from tests.e2e.app.conftest import SLOW, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REVOKED = 3


def split_view(subject: str) -> Any:
    """A route handler serving `subject`'s key log with one extra, well-chained entry (what
    an operator would show one viewer only), sliced from whatever position the client asks."""

    def handle(route: Route) -> None:
        url = urlparse(route.request.url)
        if unquote(url.path.rsplit("/", 1)[-1]) != subject:
            route.continue_()
            return
        start = int(parse_qs(url.query).get("log_from", ["0"])[0])
        answer = route.fetch(url=f"{url.scheme}://{url.netloc}{url.path}")
        document = answer.json()
        log = document.get("log")
        if not log:
            route.fulfill(response=answer)
            return
        body = b"a-device-only-bob-is-told-about"
        head = blake3(base64.b64decode(log["head"]) + bytes([REVOKED]) + struct.pack(">I", len(body)) + body).digest()
        entries = [*log["entries"], {"index": log["size"], "kind": "revoked", "body": base64.b64encode(body).decode()}]
        log.update(size=log["size"] + 1, head=base64.b64encode(head).decode(), entries=entries[start:])
        route.fulfill(response=answer, body=json.dumps(document))

    return handle


def test_clients_shown_different_key_logs_for_alice_find_out_through_their_chat(people: Any) -> None:
    alice, bob = people("alice"), people("bob")
    alice.sign_up()
    address = User.objects.get(username__startswith=alice.name + "@").username
    bob.context.route("**/v1/devices/of/**", split_view(address))
    bob.sign_up()
    alice.start_direct(bob.name)
    alice.say("Hello Bob")
    bob.open_chat(alice.name)
    bob.expect_message("Hello Bob")
    bob.say("Hello Alice")
    alice.expect_message("Hello Alice")

    # Bob's own checks of Alice's log pass: the extra entry is chained and consistent.
    alice.open_chat(bob.name)
    warning = alice.page.get_by_role("alert", name="Security warnings")
    expect(warning).to_contain_text(
        f"{bob.name}'s device was shown more of your account's key log than this device", timeout=SLOW
    )
    shot(alice.page, "20l-keylog-split-view")
    assert "key log" not in bob.page.content(), "Bob's client alone saw nothing wrong"
    # What went between them was ciphertext: the heads are in no stored row in the clear.
    for row in Message.objects.exclude(ciphertext=None):
        assert b"keylog_heads" not in bytes(row.ciphertext)
