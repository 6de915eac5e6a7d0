"""Blocking in the browser (issue 24): Bob blocks Alice from their direct chat's header;
Alice's new messages there are refused by the server (her app says so) and never reach
Bob; in a group they share, her messages are folded for Bob ("Message from a blocked
person", Show). Bob unblocks her from Settings → Blocked people and her messages show again."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Block
from tests.e2e.app.conftest import SLOW, assert_controls_named, assert_private, pair, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_block_then_unblock(people: Any) -> None:
    alice, bob = pair(people)
    # A group they share (made before the block: afterwards Alice could not add Bob).
    name = "Shared Room"
    alice.typed.append(name)
    alice.create_group(name, [bob])
    expect(alice.page.locator(".conv-title")).to_contain_text(name, timeout=SLOW)
    alice.say("Group hello before")
    bob.open_chat(name)
    bob.expect_message("Group hello before")

    # Bob blocks Alice from their direct chat's header.
    bob.open_chat(alice.name)
    bob.page.once("dialog", lambda dialog: dialog.accept())
    bob.page.get_by_role("button", name=f"Block {alice.name}").click()
    expect(bob.page.get_by_role("button", name=f"Unblock {alice.name}")).to_be_visible(timeout=SLOW)
    assert Block.objects.filter(blocker__username__startswith=bob.name + "@").count() == 1
    assert_controls_named(bob.page)
    shot(bob.page, "48-direct-chat-blocked")

    # Alice's next direct message is refused: her app says so, Bob never gets it.
    alice.open_chat(bob.name)
    alice.say("Are you there?")
    refused = alice.message("Are you there?")
    expect(refused).to_contain_text("does not accept messages", timeout=SLOW)
    shot(alice.page, "49-message-refused-by-block")
    # In the group, her message reaches Bob's device but is folded.
    alice.open_chat(name)
    alice.say("Group hello while blocked")
    bob.open_chat(name)
    folded = bob.log.locator("li.blocked-message")
    # Both of hers are folded, the one from before the block too.
    expect(folded).to_have_count(2, timeout=SLOW)
    expect(bob.log).not_to_contain_text("Group hello while blocked")
    # Not in the chat list's preview either.
    expect(bob.page.locator("li.chat-row", has_text=name)).not_to_contain_text("while blocked")
    shot(bob.page, "50-group-message-folded")
    bob.page.get_by_role("button", name="Show the message from a blocked person").last.click()
    bob.expect_message("Group hello while blocked")
    expect(folded).to_have_count(1)
    bob.open_chat(alice.name)
    bob.page.wait_for_timeout(1500)
    expect(bob.log).not_to_contain_text("Are you there?")

    # Unblock from Settings → Blocked people.
    bob.page.get_by_role("button", name="Settings").click()
    blocked = bob.page.get_by_role("list", name="Blocked people")
    expect(blocked.locator("li")).to_have_count(1, timeout=SLOW)
    expect(blocked).to_contain_text(alice.name)
    blocked.scroll_into_view_if_needed()
    shot(bob.page, "51-settings-blocked-people")
    bob.page.get_by_role("button", name=f"Unblock {alice.name}").click()
    expect(bob.page.get_by_text("You have not blocked anyone.")).to_be_visible(timeout=SLOW)
    assert not Block.objects.exists()
    bob.page.get_by_role("button", name="Close settings").click()

    alice.open_chat(bob.name)
    alice.say("Back again")
    bob.open_chat(alice.name)
    bob.expect_message("Back again")
    bob.open_chat(name)
    bob.expect_message("Group hello while blocked")
    expect(bob.log.locator("li.blocked-message")).to_have_count(0)
    assert_private(alice.server, alice.typed)
