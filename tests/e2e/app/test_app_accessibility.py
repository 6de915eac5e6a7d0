"""Accessibility (issue 24): axe-core finds no serious or critical violation on the main
screens — welcome and sign-up, the lock screen, the chat list, a conversation (and its
members panel), Settings, and a call (ringing, incoming, connected) — on a desktop and on a
phone-sized screen. The page's Content-Security-Policy is the production one throughout
(the people fixture fails the test on any violation)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, expect

from tests.e2e.app.conftest import PASSWORD, SLOW, pair, shot
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.support.axe import assert_accessible
from tests.support.calls import MEDIA_ARGS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Fake camera and microphone, so a call can ring and connect."""
    launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS + MEDIA_ARGS)
    yield launched
    launched.close()


def test_main_screens_have_no_serious_axe_violations(people: Any) -> None:
    minor: dict[str, list[dict[str, Any]]] = {}
    # Welcome (sign in) and the sign-up form, on a phone.
    visitor = people("visitor", viewport={"width": 390, "height": 844})
    visitor.open()
    expect(visitor.page.get_by_role("button", name="Create account").first).to_be_visible(timeout=SLOW)
    minor["welcome"] = assert_accessible(visitor.page, "welcome")
    visitor.page.get_by_role("button", name="Create account").first.click()
    minor["sign-up"] = assert_accessible(visitor.page, "sign-up")

    alice, bob = pair(people)
    # The chat list and a conversation (desktop: side by side).
    minor["conversation"] = assert_accessible(bob.page, "chat list and conversation")
    bob.page.get_by_role("button", name="Members").click()
    minor["members"] = assert_accessible(bob.page, "members panel")
    bob.page.get_by_role("button", name="Close members").click()
    # Settings.
    alice.page.get_by_role("button", name="Settings").click()
    expect(alice.page.get_by_role("list", name="Your devices").locator("li")).to_have_count(1, timeout=SLOW)
    minor["settings"] = assert_accessible(alice.page, "settings")
    alice.page.get_by_role("button", name="Close settings").click()

    # A call: ringing (caller), incoming (callee), connected (both).
    alice.open_chat(bob.name)
    alice.page.locator(".conv-header").get_by_role("button", name="Video call").click()
    expect(alice.page.locator(".call-state")).to_have_text("Ringing", timeout=SLOW)
    minor["call ringing"] = assert_accessible(alice.page, "call (ringing)")
    prompt = bob.page.get_by_role("dialog", name="Call")
    expect(prompt).to_contain_text(f"{alice.name} is calling you (video)", timeout=SLOW)
    minor["call incoming"] = assert_accessible(bob.page, "call (incoming)")
    prompt.get_by_role("button", name="Accept").click()
    for person in (alice, bob):
        expect(person.page.locator(".call-state")).to_have_text("Connected", timeout=SLOW)
    minor["call connected"] = assert_accessible(bob.page, "call (connected)")
    shot(bob.page, "52-call-connected-axe")
    bob.page.get_by_role("button", name="Hang up").click()

    # The lock screen, and the chat list alone on a phone.
    phone = people("carol", viewport={"width": 390, "height": 844})
    phone.sign_up()
    phone.start_direct(bob.name)
    phone.say("Hello from a phone")
    phone.page.get_by_role("button", name="Back to chats").click()  # no chat in the address: the list after the reload
    phone.page.reload()
    expect(phone.page.get_by_role("button", name="Unlock")).to_be_visible(timeout=SLOW)
    minor["unlock"] = assert_accessible(phone.page, "lock screen")
    phone.page.get_by_label("Password").fill(PASSWORD)
    phone.page.get_by_role("button", name="Unlock").click()
    expect(phone.banner()).to_have_text("Connected", timeout=SLOW)
    expect(phone.page.locator("li.chat-row")).to_contain_text("Hello from a phone", timeout=SLOW)
    minor["chat list (phone)"] = assert_accessible(phone.page, "chat list (phone)")
    shot(phone.page, "53-chat-list-phone-axe")
    phone.open_chat(bob.name)
    expect(phone.page.get_by_role("button", name=f"Block {bob.name}")).to_be_visible(timeout=SLOW)
    minor["conversation (phone)"] = assert_accessible(phone.page, "conversation (phone)")
    shot(phone.page, "54-conversation-phone-axe")
    print("minor axe findings:", {k: [v["id"] for v in vs] for k, vs in minor.items()})
