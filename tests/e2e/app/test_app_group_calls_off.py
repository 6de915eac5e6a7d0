"""Without a Janus configured (the shared app server has none), the group-call button says
that the operator has not enabled group calls, and nothing else breaks; the button is
offered in groups of three or more only."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.app.conftest import SLOW, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_group_call_button_says_the_operator_has_not_enabled_group_calls(people: Any) -> None:
    alice, bob, carol = people("alice"), people("bob"), people("carol")
    for person in (alice, bob, carol):
        person.sign_up()
    alice.create_group("Pair only", [bob])
    expect(alice.page.locator(".conv-header").get_by_role("button", name="Group call")).to_be_hidden()
    alice.typed.append("No SFU here")
    alice.create_group("No SFU here", [bob, carol])
    button = alice.page.locator(".conv-header").get_by_role("button", name="Group call")
    expect(button).to_be_visible()
    button.click()
    expect(alice.page.locator(".conversation").get_by_role("alert").first).to_contain_text(
        "operator has not enabled group calls", timeout=SLOW
    )
    panel = alice.page.get_by_role("dialog", name="Group call", exact=True)
    expect(panel).to_have_attribute("data-phase", "ended")
    shot(alice.page, "group-call-00-not-enabled")
    panel.get_by_role("button", name="Close").click()
    expect(panel).to_be_hidden()
    # The chat goes on.
    alice.say("still here")
    bob.open_chat("No SFU here")
    bob.expect_message("still here")
