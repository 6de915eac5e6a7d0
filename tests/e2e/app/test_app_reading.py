"""Reading (issue 22): drafts kept per chat in the vault (a chat switch and a reload keep
them, sending clears them, the chat list says "Draft: …"), and never readable in the
browser's storage or on the server; the unread count, the "New messages" divider and the
jumps; delivered and read ticks that say what happened; a reply's quote that scrolls to
the quoted message; the sign-up phrase step without the account tabs; the lock screen
naming its account."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.app.conftest import FIND_IN_BROWSER_STORAGE, PASSWORD, SLOW, Person, assert_private, pair, shot, unlock

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def chat_button(person: Person, other: Person) -> Any:
    """The chat's row in the list: its button (name "Open chat …") with the preview and time beside it."""
    button = person.page.get_by_role("button", name=re.compile(rf"^Open chat {re.escape(other.name)}(,|$)"))
    return person.page.locator("li.chat-row", has=button)


def switch(person: Person, other: Person) -> None:
    """Opens the direct chat with `other` from the list and waits for its header."""
    person.open_chat(other.name)
    expect(person.page.locator(".conv-title")).to_have_text(other.name)


def test_sign_up_phrase_step_hides_the_account_tabs(people: Any) -> None:
    dana = people("dana")
    page = dana.page
    dana.open()
    tabs = page.get_by_role("navigation", name="Account")
    expect(tabs).to_be_visible()
    page.get_by_label("Username").fill(dana.name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.locator("form").get_by_role("button", name="Create account").click()
    expect(page.get_by_role("list", name="Recovery phrase")).to_be_visible()
    # One click on "Sign in" here would lose the phrase before the account exists.
    expect(tabs).to_be_hidden()
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
    shot(page, "22a-phrase-without-tabs")
    page.get_by_role("button", name="I have written it down").click()
    expect(page.get_by_label("Word 3", exact=True)).to_be_visible()
    expect(tabs).to_be_hidden()


def test_drafts_survive_chat_switch_and_reload_and_stay_sealed(people: Any) -> None:
    alice, bob = pair(people)
    carol = people("carol")
    carol.sign_up()
    alice.start_direct(carol.name)
    expect(alice.page.locator(".conv-title")).to_have_text(carol.name)  # (the composer was already there)
    alice.say("Hello Carol")

    to_bob = "Half-typed answer about the blue boathouse"
    to_carol = "Unsent note for Carol: the quince jam recipe"
    switch(alice, bob)
    alice.message("Hello from Alice").get_by_role("button", name="Reply").click()
    alice.composer.fill(to_bob)
    # Another chat: its composer is empty, and the chat left says it has a draft.
    switch(alice, carol)
    expect(alice.composer).to_have_value("")
    expect(chat_button(alice, bob)).to_contain_text(f"Draft: {to_bob}")
    alice.composer.fill(to_carol)
    switch(alice, bob)
    expect(alice.composer).to_have_value(to_bob)
    expect(alice.page.locator(".composer-context")).to_contain_text("Replying to You: Hello from Alice")
    expect(chat_button(alice, carol)).to_contain_text(f"Draft: {to_carol}")
    shot(alice.page, "22b-draft-in-chat-list")

    # In the browser's storage only sealed: no draft text in any IndexedDB row, nor in localStorage.
    alice.page.wait_for_timeout(1000)  # the open chat's draft is sealed a moment after typing stops
    # (The vault header's KDF name is stored in the clear: it shows the scan reads the values.)
    found = alice.page.evaluate(FIND_IN_BROWSER_STORAGE, [to_bob, to_carol, "quince jam", "argon2id13"])
    assert "talkee-vault/rows/app/drafts" in found["keys"]
    assert found["hits"] == ["talkee-vault/meta/header.kdf: argon2id13"], found["hits"]

    # A reload: the lock screen names the account; the drafts come back from the vault.
    unlock(alice)
    expect(chat_button(alice, carol)).to_contain_text(f"Draft: {to_carol}")
    expect(chat_button(alice, bob)).to_contain_text(f"Draft: {to_bob}")
    switch(alice, bob)
    expect(alice.composer).to_have_value(to_bob, timeout=SLOW)
    expect(alice.page.locator(".composer-context")).to_contain_text("Replying to You: Hello from Alice")

    # Sending clears it: the message goes out as the reply it was; no draft is left.
    alice.typed.append(to_bob)
    alice.composer.press("Enter")
    bob.expect_message(to_bob)
    expect(bob.message(to_bob).locator("blockquote")).to_contain_text("Hello from Alice")
    expect(alice.composer).to_have_value("")
    switch(alice, carol)
    expect(alice.composer).to_have_value(to_carol)
    expect(chat_button(alice, bob)).not_to_contain_text("Draft:")
    expect(chat_button(alice, bob)).to_contain_text(to_bob)
    switch(alice, bob)
    expect(alice.composer).to_have_value("")
    # Carol's draft was never sent: the server knows nothing of it, nor of the text that was sent.
    assert_private(alice.server, [*alice.typed, to_carol])


def test_unread_count_divider_jumps_and_chat_order(people: Any) -> None:
    alice = people("alice")
    bob = people("bob", viewport=PHONE)
    carol = people("carol")
    alice.sign_up()
    bob.sign_up()
    carol.sign_up()
    alice.start_direct(bob.name)
    alice.say("Hello from Alice")
    bob.open_chat(alice.name)
    bob.expect_message("Hello from Alice")
    carol.start_direct(bob.name)
    carol.say("Carol says hi")
    bob.page.get_by_role("button", name="Back to chats").click()
    # The list is ordered by last activity: Carol wrote last.
    names = bob.page.locator(".chats .chat-name")
    expect(names).to_have_text([carol.name, alice.name], timeout=SLOW)
    expect(chat_button(bob, carol)).to_contain_text("Carol says hi")
    # Names that do not fit end in an ellipsis (CSS); the whole name is the title.
    expect(names.first).to_have_attribute("title", carol.name)

    lines = [f"Unread line {n:02d}" for n in range(1, 31)]
    for line in lines:
        alice.say(line)
    # Counted on Bob's device, previewed from the decrypted text, and Alice's chat on top again.
    unread = bob.page.get_by_role("button", name=f"Open chat {alice.name}, 30 unread")
    expect(bob.page.locator("li.chat-row", has=unread)).to_contain_text("Unread line 30", timeout=SLOW)
    expect(names).to_have_text([alice.name, carol.name])
    expect(alice.message("Unread line 30").get_by_role("img", name="Delivered")).to_be_visible(timeout=SLOW)
    shot(bob.page, "22c-unread-phone")

    bob.open_chat(alice.name)
    divider = bob.log.get_by_role("separator", name="New messages")
    expect(divider).to_have_count(1)
    # Right before the first unread message, and in view: the reader starts there.
    after = divider.evaluate("el => el.closest('li').nextElementSibling.querySelector('.text').textContent")
    before = divider.evaluate("el => el.closest('li').previousElementSibling.querySelector('.text').textContent")
    assert (before, after) == ("Hello from Alice", "Unread line 01")
    expect(divider).to_be_in_viewport()
    expect(bob.message("Unread line 30")).not_to_be_in_viewport()
    expect(chat_button(bob, alice).locator(".badge")).to_have_count(0)  # read: the count is gone
    shot(bob.page, "22d-new-messages-divider-phone")

    latest = bob.page.get_by_role("button", name="Jump to latest ↓")
    expect(latest).to_be_visible()
    latest.click()
    expect(bob.message("Unread line 30")).to_be_in_viewport()
    expect(latest).to_be_hidden()
    first_unread = bob.page.get_by_role("button", name="Jump to first unread ↑")
    expect(first_unread).to_be_visible()
    first_unread.click()
    expect(divider).to_be_in_viewport()
    expect(alice.message("Unread line 30").get_by_role("img", name="Read")).to_be_visible(timeout=SLOW)

    # A new message while Bob reads further up does not pull him down.
    alice.say("One more while you scroll")
    bob.expect_message("One more while you scroll")
    expect(divider).to_be_in_viewport()
    expect(latest).to_be_visible()
    # Read now: after a reload, no divider and no count.
    unlock(bob, "22g-lock-screen-phone")
    expect(chat_button(bob, alice)).to_contain_text("One more while you scroll")
    expect(chat_button(bob, alice).locator(".badge")).to_have_count(0)
    bob.open_chat(alice.name)
    bob.expect_message("One more while you scroll")
    expect(bob.log.get_by_role("separator", name="New messages")).to_have_count(0)
    assert_private(alice.server, alice.typed)


def test_delivered_then_read_and_a_quote_scrolls_to_its_message(people: Any) -> None:
    alice, bob = pair(people)
    # Bob is online, but the chat is not open on his screen: delivered, not read.
    unlock(bob, "22h-lock-screen")
    alice.say("Are you there, Bob?")
    tick = alice.message("Are you there, Bob?").locator(".tick")
    expect(tick).to_have_attribute("aria-label", "Delivered", timeout=SLOW)
    expect(bob.page.get_by_role("button", name=f"Open chat {alice.name}, 1 unread")).to_be_visible()
    alice.page.wait_for_timeout(2000)
    expect(tick).to_have_attribute("aria-label", "Delivered")
    shot(alice.page, "22e-delivered")
    # He opens it: read.
    bob.open_chat(alice.name)
    bob.expect_message("Are you there, Bob?")
    expect(tick).to_have_attribute("aria-label", "Read", timeout=SLOW)

    for n in range(1, 46):
        alice.say(f"Filler {n:02d}")
    bob.expect_message("Filler 45")
    bob.message("Are you there, Bob?").get_by_role("button", name="Reply").click()
    bob.say("Yes, I am here")
    alice.expect_message("Yes, I am here")
    # After a reload the quoted message is more than a page back (not rendered): the quote brings it.
    unlock(alice)
    alice.open_chat(bob.name)
    alice.expect_message("Yes, I am here")
    quoted = alice.message("Are you there, Bob?")
    expect(quoted).to_have_count(0)
    alice.message("Yes, I am here").get_by_role("button", name=re.compile("^You: Are you there")).click()
    expect(quoted).to_be_in_viewport()
    expect(quoted).to_have_class(re.compile(r"\bflash\b"))
    shot(alice.page, "22f-quote-scrolled")
    assert_private(alice.server, alice.typed)


def test_what_one_of_my_devices_read_is_no_longer_unread_on_the_other(people: Any) -> None:
    """Bob on two devices: Alice's new messages are unread on both; he reads them on his
    second device, and his first device's count goes away by itself (his read receipt, sealed
    like any message, reaches his own devices too — the server never knows what is unread)."""
    alice, bob = pair(people)
    bob2 = people("bob", label="bob-2")
    bob2.sign_in(phrase=bob.words)
    alice.say("Before the phone's first look")
    bob2.open_chat(alice.name)
    bob2.expect_message("Before the phone's first look")
    # Both of Bob's devices look at another chat while Alice writes.
    alice.create_group("Elsewhere", [bob])
    expect(alice.page.locator(".conv-title")).to_contain_text("Elsewhere", timeout=SLOW)
    alice.say("In the group")
    for device in (bob, bob2):
        device.open_chat("Elsewhere")
        device.expect_message("In the group")
    alice.open_chat(bob.name)
    for n in (1, 2, 3):
        alice.say(f"Unread on both {n}")
    for device in (bob, bob2):
        expect(device.page.get_by_role("button", name=f"Open chat {alice.name}, 3 unread")).to_be_visible(timeout=SLOW)

    # Read on the phone: the laptop's count goes, and only that chat's.
    bob2.open_chat(alice.name)
    bob2.expect_message("Unread on both 3")
    expect(bob.page.get_by_role("button", name=re.compile(rf"^Open chat {re.escape(alice.name)}$"))).to_be_visible(
        timeout=SLOW
    )
    expect(chat_button(bob, alice).locator(".badge")).to_have_count(0)
    shot(bob.page, "22v-read-on-another-device")
    # Counting goes on from there: a new message is one unread on each (neither has the chat open).
    bob2.open_chat("Elsewhere")
    alice.say("After the phone read")
    for device in (bob, bob2):
        expect(device.page.get_by_role("button", name=f"Open chat {alice.name}, 1 unread")).to_be_visible(timeout=SLOW)
