"""Two people sign up in their own browsers, start a direct chat and talk; the
history survives a reload behind the password; the database and the server log
never see what they typed."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.app.conftest import PASSWORD, SLOW, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_direct_chat_round_trip_and_reload(people: Any) -> None:
    alice = people("alice")
    bob = people("bob")
    alice.sign_up()
    shot(alice.page, "01-chats-empty")
    bob.sign_up()

    alice.start_direct(bob.name)
    alice.say("Hi Bob, lunch at noon?")
    alice.expect_message("Hi Bob, lunch at noon?")

    bob.open_chat(alice.name)
    bob.expect_message("Hi Bob, lunch at noon?")
    bob.say("Sure — the usual place")
    alice.expect_message("Sure — the usual place")
    # Enter sends, Shift+Enter makes a new line.
    bob.composer.fill("first line")
    bob.composer.press("Shift+Enter")
    bob.composer.type("second line")
    bob.typed.append("second line")
    bob.composer.press("Enter")
    alice.expect_message("second line")
    expect(alice.message("second line").locator(".text")).to_have_text("first line\nsecond line")
    shot(alice.page, "02-conversation-alice")
    shot(bob.page, "03-conversation-bob")

    # Reload: the vault asks for the password; a wrong one is refused.
    bob.page.reload()
    bob.page.get_by_label("Password").fill("not my password at all")
    bob.page.get_by_role("button", name="Unlock").click()
    expect(bob.page.get_by_role("alert")).to_have_text("Wrong password. Try again.", timeout=SLOW)
    shot(bob.page, "04-unlock-wrong-password")
    bob.page.get_by_label("Password").fill(PASSWORD)
    bob.page.get_by_role("button", name="Unlock").click()
    expect(bob.banner()).to_have_text("Connected", timeout=SLOW)
    bob.open_chat(alice.name)
    bob.expect_message("Hi Bob, lunch at noon?")
    bob.expect_message("Sure — the usual place")
    # Still talking after the reload, both ways.
    alice.say("See you there")
    bob.expect_message("See you there")
    bob.say("Bringing the umbrella")
    alice.expect_message("Bringing the umbrella")
