"""Profiles (issue 23): a display name Alice sets reaches Bob through a key shared inside
MLS and shows in his chat list, conversation header and member list (with her address
beside it); a new name replaces it; the server holds the profile only as ciphertext. A group
renamed by Alice shows its new name and a notice on Bob's side."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Profile
from tests.e2e.app.conftest import SLOW, Person, assert_controls_named, assert_private, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def set_display_name(person: Person, name: str, screenshot: str | None = None) -> None:
    page = person.page
    person.typed.append(name)
    page.get_by_role("button", name="Settings").click()
    page.get_by_label("Display name").fill(name)
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_role("status", name="Profile")).to_have_text("Your display name was saved.", timeout=SLOW)
    if screenshot is not None:
        assert_controls_named(page)
        shot(page, screenshot)
    page.get_by_role("button", name="Close settings").click()


def title(page: Page) -> Any:
    return page.locator("h2.conv-title")


def open_members(page: Page) -> None:
    button = page.get_by_role("button", name="Members", exact=True)
    if button.get_attribute("aria-expanded") != "true":
        button.click()


def test_display_name_reaches_the_other_side_and_a_group_rename_is_told(people: Any) -> None:
    alice = people("alice")
    bob = people("bob", viewport=PHONE)
    alice.sign_up()
    bob.sign_up()
    alice.start_direct(bob.name)
    alice.say("Hello from Alice")
    bob.open_chat(alice.name)
    bob.expect_message("Hello from Alice")
    expect(title(bob.page)).to_have_text(alice.name)

    first = "Alice Wonderland Q7"
    set_display_name(alice, first, "23f-settings-profile-desktop")
    # Bob's header (the chat is open on his phone), then his chat list.
    expect(title(bob.page)).to_have_text(first, timeout=SLOW)
    shot(bob.page, "23a-display-name-header-phone")
    open_members(bob.page)
    members = bob.page.get_by_role("list", name="Members of this chat")
    # The name Alice chose, with her address beside it: a copied name is told apart.
    expect(members.locator("li").filter(has_text=first)).to_contain_text(f"{alice.name}@")
    shot(bob.page, "23b-members-with-address-phone")
    bob.page.get_by_role("button", name="Close members").click()
    # The safety number still names the address, never the display name.
    bob.page.get_by_role("button", name="Back to chats").click()
    expect(bob.page.get_by_role("button", name=re.compile(rf"^Open chat {re.escape(first)}"))).to_be_visible()
    shot(bob.page, "23c-display-name-chat-list-phone")

    second = "Alice Pleasance Z3"
    set_display_name(alice, second)
    expect(bob.page.get_by_role("button", name=re.compile(rf"^Open chat {re.escape(second)}"))).to_be_visible(
        timeout=SLOW
    )
    expect(bob.page.get_by_role("button", name=re.compile(rf"^Open chat {re.escape(first)}"))).to_have_count(0)
    bob.open_chat(second)
    expect(title(bob.page)).to_have_text(second)

    # The server has a profile for Alice, at version 2, and nothing of either name.
    profile = Profile.objects.get(account__username__startswith=f"{alice.name}@")
    assert profile.version == 2
    assert first.encode() not in bytes(profile.ciphertext) and second.encode() not in bytes(profile.ciphertext)

    # A group: Alice renames it; Bob sees the new name and who renamed it to what.
    group, renamed = "Tea Party Room", "Mad Hatters Table"
    alice.typed.extend([group, renamed])
    alice.page.get_by_role("button", name="New group or channel").click()
    alice.page.get_by_label("Name", exact=True).fill(group)
    alice.page.get_by_label("Members (usernames, comma-separated)").fill(bob.name)
    alice.page.get_by_role("button", name="Create", exact=True).click()
    expect(title(alice.page)).to_contain_text(group, timeout=SLOW)
    alice.say("Welcome to the party")
    bob.page.get_by_role("button", name="Back to chats").click()
    bob.open_chat(group)
    bob.expect_message("Welcome to the party")

    open_members(alice.page)
    alice.page.get_by_label("Name of the group").fill(renamed)
    alice.page.get_by_role("button", name="Rename group").click()
    notice = "renamed the group to “Mad Hatters Table”"
    expect(alice.log.get_by_text(f"You {notice}")).to_be_visible(timeout=SLOW)
    expect(title(alice.page)).to_contain_text(renamed)
    assert_controls_named(alice.page)
    shot(alice.page, "23d-group-renamed-desktop")

    expect(title(bob.page)).to_contain_text(renamed, timeout=SLOW)
    expect(bob.log.get_by_text(f"{second} {notice}")).to_be_visible(timeout=SLOW)
    shot(bob.page, "23e-group-renamed-phone")
    bob.page.get_by_role("button", name="Back to chats").click()
    expect(bob.page.get_by_role("button", name=re.compile(rf"^Open chat .*{re.escape(renamed)}"))).to_be_visible()
    assert_controls_named(bob.page)

    # Every table, the blobs and the server log: no name in the clear.
    assert_private(alice.server, alice.typed)
