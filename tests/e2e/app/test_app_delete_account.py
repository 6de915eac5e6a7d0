"""Deleting an account in the browser (issue 24): Settings → Delete account with the password
typed again and a box ticked; the account's other device wipes itself (socket closed 4004);
the others see the person gone from the group, the new owner's device takes the leaves out
of the MLS group, and they keep chatting; the username cannot be registered again."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.chats.models import Chat, Membership
from apps.devices.models import Device
from apps.messages.models import Message
from tests.e2e.app.conftest import PASSWORD, SLOW, assert_controls_named, assert_private, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DELETED_NOTE = "The account was deleted. Its keys and messages have been deleted from this browser."


def wait_until(check: Any, page: Page, what: str, timeout: float = SLOW / 1000) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {what}")


def test_delete_account_leaves_the_group_and_wipes_every_device(people: Any) -> None:
    alice = people("alice")
    bob = people("bob")
    carol = people("carol", viewport={"width": 390, "height": 844})
    for person in (alice, bob, carol):
        person.sign_up()
    phone = people("alice", label="alice-phone")
    phone.sign_in(phrase=alice.words)
    name = "Farewell Club"
    alice.typed.append(name)
    alice.create_group(name, [bob, carol])
    alice.say("Hello before I go")
    for member in (bob, carol):
        member.open_chat(name)
        member.expect_message("Hello before I go")
    chat = Chat.objects.get(kind="group", memberships__user__username__startswith=carol.name + "@")
    alice_user = User.objects.get(username__startswith=alice.name + "@")
    alice_devices = list(Device.objects.filter(user=alice_user).values_list("pk", flat=True))
    assert len(alice_devices) == 2

    page = alice.page
    page.get_by_role("button", name="Settings").click()
    form = page.get_by_role("form", name="Delete account")
    form.scroll_into_view_if_needed()
    assert_controls_named(page)
    # A wrong password: said in the form, nothing deleted.
    form.get_by_label("Your password").fill("not my password at all")
    form.get_by_label("I understand").check()
    form.get_by_role("button", name="Delete my account").click()
    expect(form.get_by_role("alert")).to_have_text("The password is not right.", timeout=SLOW)
    assert User.objects.filter(pk=alice_user.pk).exists()
    shot(page, "45-delete-account-wrong-password")
    # Unticked: refused before anything is sent.
    form.get_by_label("Your password").fill(PASSWORD)
    form.get_by_label("I understand").uncheck()
    form.get_by_role("button", name="Delete my account").click()
    expect(form.get_by_role("alert")).to_have_text("Tick the box to confirm.")
    assert User.objects.filter(pk=alice_user.pk).exists()

    epoch_before = Chat.objects.get(pk=chat.pk).epoch
    form.get_by_label("I understand").check()
    form.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text(DELETED_NOTE)).to_be_visible(timeout=SLOW)
    # The other device was told (socket closed 4004) and forgot the account too.
    expect(phone.page.get_by_text(DELETED_NOTE)).to_be_visible(timeout=SLOW)
    shot(phone.page, "46-account-deleted-other-device")
    for person in (alice, phone):
        assert person.page.evaluate("() => localStorage.getItem('talkee.account')") is None
    assert not User.objects.filter(pk=alice_user.pk).exists()
    assert not Device.objects.filter(pk__in=alice_devices).exists()
    assert not Membership.objects.filter(user_id=alice_user.pk).exists()

    # Bob (now the owner) sees Alice gone from the members and his device commits her removal.
    bob.page.get_by_role("button", name="Members").click()
    members = bob.page.get_by_role("list", name="Members of this chat")
    expect(members.locator("li")).to_have_count(2, timeout=SLOW)
    expect(members).not_to_contain_text(alice.name)
    expect(members.locator("li", has_text=f"{bob.name}")).to_contain_text("owner")
    shot(bob.page, "47-member-list-after-deletion")
    wait_until(
        lambda: Message.objects.filter(chat=chat, kind="commit", epoch__gte=epoch_before).exists(),
        bob.page,
        "the commit removing Alice's devices",
    )
    bob.page.get_by_role("button", name="Close members").click()
    bob.say("Still here without Alice")
    carol.expect_message("Still here without Alice")
    carol.say("Me too")
    bob.expect_message("Me too")
    # What Alice wrote stays readable for them.
    bob.expect_message("Hello before I go")

    # The username is not given out again.
    page.get_by_role("button", name="Create account").first.click()
    page.get_by_label("Username").fill(alice.name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.locator("form").get_by_role("button", name="Create account").click()
    words = page.get_by_role("list", name="Recovery phrase").locator("li").all_inner_texts()
    page.get_by_role("button", name="I have written it down").click()
    for index in (3, 7, 11):
        page.get_by_label(f"Word {index}", exact=True).fill(words[index - 1])
    page.get_by_role("button", name="Confirm and create account").click()
    expect(page.get_by_role("alert")).to_contain_text("belonged to an account that was deleted", timeout=SLOW)
    assert not User.objects.filter(username=alice_user.username).exists()
    assert_private(alice.server, alice.typed)
