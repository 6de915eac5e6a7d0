"""A message's actions as people use them: on a phone they hide until a long press (or
"More actions"), so a screen of messages is not a screen of buttons; deleting can be undone
for a few seconds, and nothing reaches the server (or the other person) until that time is
up; Copy puts the text on the clipboard."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from apps.messages.models import Message
from tests.e2e.app.conftest import SLOW, assert_private, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
UNDO_SECONDS = 5  # web/src/ui/conversation/pendingDeletes.ts UNDO_MS


def test_on_a_phone_actions_wait_for_a_long_press_and_a_delete_can_be_undone(people: Any) -> None:
    alice = people("alice", viewport=PHONE)
    bob = people("bob")
    alice.sign_up()
    bob.sign_up()
    alice.start_direct(bob.name)
    for text in ("The gate code is 4471", "Bring the blue folder"):
        alice.say(text)
    bob.open_chat(alice.name)
    bob.expect_message("Bring the blue folder")

    message = alice.message("The gate code is 4471")
    delete = message.get_by_role("button", name="Delete")
    expect(delete).to_be_hidden()  # no row of buttons under every message on a phone
    expect(alice.message("Bring the blue folder").get_by_role("button", name="Reply")).to_be_hidden()
    shot(alice.page, "22h-phone-actions-closed")
    message.locator(".bubble").click(button="right")  # what a long press is to the page
    expect(delete).to_be_visible()
    expect(message.get_by_role("button", name="More actions")).to_have_attribute("aria-expanded", "true")
    expect(alice.message("Bring the blue folder").get_by_role("button", name="Reply")).to_be_hidden()
    shot(alice.page, "22i-phone-actions-open")
    message.get_by_role("button", name="More actions").click()  # the button closes it too
    expect(delete).to_be_hidden()
    message.get_by_role("button", name="More actions").click()
    expect(message.get_by_role("button", name="Reply")).to_be_focused()  # on its first action, for the keyboard
    alice.page.keyboard.press("Escape")
    expect(delete).to_be_hidden()
    message.get_by_role("button", name="More actions").click()

    # Delete, then Undo: nothing was sent; the message is back and Bob still has it.
    delete.click()
    undo = alice.page.get_by_role("button", name="Undo deleting the message")
    expect(undo).to_be_visible()
    expect(alice.message("The gate code is 4471")).to_have_count(0)
    shot(alice.page, "22j-phone-deleted-undo")
    undo.click()
    alice.expect_message("The gate code is 4471")
    time.sleep(UNDO_SECONDS + 1)
    bob.expect_message("The gate code is 4471")
    assert not Message.objects.filter(deleted_at__isnull=False).exists()

    # Delete and let it be: it goes to the server only when the undo time is up.
    message = alice.message("The gate code is 4471")
    message.get_by_role("button", name="More actions").click()
    message.get_by_role("button", name="Delete").click()
    started = time.monotonic()
    expect(undo).to_be_visible()
    time.sleep(UNDO_SECONDS - 2)
    assert not Message.objects.filter(deleted_at__isnull=False).exists(), "sent before the undo time was up"
    bob.expect_message("The gate code is 4471")
    expect(bob.message("The gate code is 4471")).to_have_count(0, timeout=SLOW)
    assert time.monotonic() - started >= UNDO_SECONDS - 0.5
    expect(undo).to_be_hidden()
    expect(alice.page.locator("li.msg.deleted")).to_have_count(1)
    assert Message.objects.filter(deleted_at__isnull=False).count() == 1
    assert_private(alice.server, ["The gate code is 4471", "Bring the blue folder"])


def test_copy_puts_the_text_on_the_clipboard(people: Any) -> None:
    alice, bob = people("alice"), people("bob")
    alice.sign_up()
    bob.sign_up()
    alice.start_direct(bob.name)
    alice.say("Tracking number ZX-2291-QQ")
    bob.open_chat(alice.name)
    bob.expect_message("Tracking number ZX-2291-QQ")
    bob.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=bob.server.url)
    message = bob.message("Tracking number ZX-2291-QQ")
    message.hover()
    message.get_by_role("button", name="Copy").click()
    expect(bob.page.get_by_role("status").filter(has_text="Copied.")).to_have_count(1)
    assert bob.page.evaluate("() => navigator.clipboard.readText()") == "Tracking number ZX-2291-QQ"
