"""Light and dark (issue 24): the app follows the system's colour scheme unless the person
picks Light or Dark in Settings → Appearance (kept on this device, also after a reload);
axe-core finds no serious violation — contrast included — on the main screens in the dark
theme, on a desktop and on a phone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.app.conftest import pair, shot, unlock
from tests.support.axe import assert_accessible

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DARK_BG = "rgb(15, 19, 26)"
LIGHT_BG = "rgb(243, 245, 249)"


def theme(page: Page) -> str:
    return str(page.evaluate("() => document.documentElement.dataset.theme"))


def background(page: Page) -> str:
    return str(page.evaluate("() => getComputedStyle(document.documentElement).backgroundColor"))


def test_the_system_scheme_is_followed_until_a_theme_is_picked(people: Any) -> None:
    alice, bob = pair(people)
    phone = people("carol", viewport={"width": 390, "height": 844})
    for page in (alice.page, bob.page, phone.page):
        page.emulate_media(color_scheme="dark")
    expect(alice.page.locator("html")).to_have_attribute("data-theme", "dark")  # follows at once
    assert background(alice.page) == DARK_BG
    alice.say("Seen in the dark")
    bob.expect_message("Seen in the dark")
    assert_accessible(alice.page, "conversation (dark)")
    assert_accessible(bob.page, "conversation, the other side (dark)")
    shot(alice.page, "24a-dark-conversation")
    phone.open()
    expect(phone.page.locator("html")).to_have_attribute("data-theme", "dark")
    assert_accessible(phone.page, "welcome (dark, phone)")
    phone.sign_up()
    assert_accessible(phone.page, "chat list (dark, phone)")
    shot(phone.page, "24b-dark-phone")

    # Alice picks Light: it holds against the dark system, and after a reload.
    alice.page.get_by_role("button", name="Settings").click()
    choice = alice.page.get_by_label("Theme")
    expect(choice).to_have_value("system")
    assert_accessible(alice.page, "settings (dark)")
    choice.select_option("light")
    expect(alice.page.locator("html")).to_have_attribute("data-theme", "light")
    assert background(alice.page) == LIGHT_BG
    unlock(alice)
    expect(alice.page.locator("html")).to_have_attribute("data-theme", "light")

    # Bob picks Dark under a light system; back to "As the system", he follows it again.
    bob.page.emulate_media(color_scheme="light")
    expect(bob.page.locator("html")).to_have_attribute("data-theme", "light")
    bob.page.get_by_role("button", name="Settings").click()
    bob.page.get_by_label("Theme").select_option("dark")
    expect(bob.page.locator("html")).to_have_attribute("data-theme", "dark")
    bob.page.get_by_label("Theme").select_option("system")
    expect(bob.page.locator("html")).to_have_attribute("data-theme", "light")
    bob.page.emulate_media(color_scheme="dark")
    expect(bob.page.locator("html")).to_have_attribute("data-theme", "dark")
    assert theme(bob.page) == "dark"
