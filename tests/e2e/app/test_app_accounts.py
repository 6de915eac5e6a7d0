"""Accounts in the browser: sign out wipes this browser, recovery with the phrase sets
a new password, sign-in makes a new device; human errors for wrong input."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.app.conftest import PASSWORD, SLOW, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sign_out_recover_and_sign_in_again(people: Any) -> None:
    alice = people("alice", viewport={"width": 390, "height": 844})
    alice.sign_up()
    page = alice.page
    shot(page, "14-chats-phone")

    page.get_by_label("Username to message").fill("nobody-by-this-name")
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile("No such user|no user"), timeout=SLOW)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("form").get_by_role("button", name="Sign in")).to_be_visible(timeout=SLOW)
    # This browser holds nothing now: a reload shows the welcome screen, not the unlock one.
    page.reload()
    expect(page.get_by_role("button", name="Create account").first).to_be_visible()
    expect(page.get_by_role("button", name="Unlock")).to_have_count(0)

    page.get_by_role("button", name="Recover account").click()
    page.get_by_label("Username").fill(alice.name)
    page.get_by_label("Recovery phrase (12 words)").fill("abandon " * 11 + "about")
    page.get_by_label("New password").fill("another long password 7")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("alert")).to_have_text("The recovery phrase does not match this account.", timeout=SLOW)
    page.get_by_label("Recovery phrase (12 words)").fill("  ".join(w.upper() for w in alice.words))
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("status").filter(has_text="Password changed")).to_be_visible(timeout=SLOW)
    shot(page, "15-recovered-phone")

    page.get_by_label("Username").fill(alice.name)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.", timeout=SLOW)
    page.get_by_label("Password").fill("another long password 7")
    page.locator("form").get_by_role("button", name="Sign in").click()
    expect(alice.banner()).to_have_text("Connected", timeout=SLOW)
