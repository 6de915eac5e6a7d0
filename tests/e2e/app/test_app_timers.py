"""Self-destruct timers and burn-on-read."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from apps.messages.models import Message
from tests.e2e.app.conftest import SLOW, assert_private, pair, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_burn_on_read_and_self_destruct(people: Any) -> None:
    alice, bob = pair(people)

    alice.page.get_by_label("Burn after reading").check()
    alice.say("The safe code is 4711")
    reveal = bob.log.get_by_role("button", name="Show message (burns after reading)")
    expect(reveal).to_be_visible(timeout=SLOW)
    expect(bob.log).not_to_contain_text("The safe code is 4711")
    expect(bob.page.get_by_role("list", name="Chats")).not_to_contain_text("The safe code is 4711")
    shot(bob.page, "17-burn-on-read")
    reveal.click()
    bob.expect_message("The safe code is 4711")
    # Reading it burns it for everyone: Alice's copy goes, and the server keeps no ciphertext.
    expect(alice.log).not_to_contain_text("The safe code is 4711", timeout=SLOW)
    burnt = Message.objects.filter(burn_on_read=True).get()
    assert burnt.deleted_at is not None and burnt.ciphertext is None

    alice.page.get_by_label("Self-destruct timer").select_option("10")
    alice.say("This vanishes in ten seconds")
    bob.expect_message("This vanishes in ten seconds")
    expect(bob.message("This vanishes in ten seconds").get_by_label("Self-destructs")).to_be_visible()
    row = Message.objects.exclude(expires_at=None).get()
    assert row.expires_at is not None
    assert (row.expires_at - row.created).total_seconds() == pytest.approx(10, abs=1)
    expect(bob.log).not_to_contain_text("This vanishes in ten seconds", timeout=20_000)
    expect(alice.log).not_to_contain_text("This vanishes in ten seconds", timeout=5_000)
    assert_private(alice.server, alice.typed)
