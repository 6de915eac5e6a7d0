"""Account controls in the browser (issue 24): change the password in Settings (the old
one is refused afterwards, the vault opens with the new one), log out all other devices
(their socket closes and they say they are signed out until the password is typed), and
leave a group (the last owner hands ownership over first; the others keep chatting and
an owner's device takes the leaver's leaves out of the group)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Session
from apps.chats.models import Chat, Membership
from apps.devices.models import Device
from apps.messages.models import Message
from tests.e2e.app.conftest import PASSWORD, SLOW, Person, assert_controls_named, assert_private, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a fresh long password 99"


def open_settings(page: Page) -> Any:
    page.get_by_role("button", name="Settings").click()
    return page.get_by_role("list", name="Your devices")


def wait_until(check: Any, page: Page, what: str, timeout: float = SLOW / 1000) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {what}")


def unlock(person: Person, password: str) -> None:
    person.page.get_by_label("Password").fill(password)
    person.page.get_by_role("button", name="Unlock").click()


def test_change_password_logs_out_the_other_device_and_only_the_new_password_works(people: Any) -> None:
    alice = people("alice")
    alice.sign_up()
    phone = people("alice", viewport={"width": 390, "height": 844}, label="alice-phone")
    phone.sign_in(phrase=alice.words)
    phone_id = Device.objects.filter(user__username__startswith=alice.name).order_by("pk").last().pk

    page = alice.page
    devices = open_settings(page)
    expect(devices.locator("li")).to_have_count(2, timeout=SLOW)
    expect(devices.locator("li[aria-current=true]")).to_contain_text("Active now")
    expect(devices.locator("li", has_text=f"#{phone_id}")).to_contain_text("Active today")
    # No clock time from the server's rounded hour ("last seen 06:00 PM").
    expect(devices).not_to_contain_text(re.compile(r"\d{1,2}:\d{2}|last seen"))
    assert_controls_named(page)
    shot(page, "40-settings-password-and-devices")

    # A wrong current password: the error shape's message, nothing changed.
    page.get_by_label("Current password").fill("not the password at all")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    form = page.get_by_role("form", name="Change password")
    expect(form.get_by_role("alert")).to_have_text("The current password is not right.", timeout=SLOW)

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("Log out all other devices").check()
    page.get_by_role("button", name="Change password").click()
    expect(form.get_by_role("status")).to_have_text(
        "Your password was changed. 1 other device was signed out.", timeout=SLOW
    )
    # The phone's socket was closed: it says so and does not sign itself back in.
    expect(phone.banner()).to_have_text("You were signed out", timeout=SLOW)
    notice = phone.page.get_by_role("alert").filter(has_text="You were signed out")
    expect(notice).to_be_visible()
    shot(phone.page, "41-signed-out-device-phone")
    assert not Session.objects.filter(device_id=phone_id).exists()
    expect(devices.locator("li", has_text=f"#{phone_id}")).to_contain_text("Signed out", timeout=SLOW)

    # The old password is refused; the new one signs the phone in again as the same device.
    phone.page.get_by_label("Password", exact=True).fill(PASSWORD)
    phone.page.get_by_role("button", name="Sign in again").click()
    expect(notice).to_contain_text("That is not your account's password.", timeout=SLOW)
    assert not Session.objects.filter(device_id=phone_id).exists()
    phone.page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    phone.page.get_by_role("button", name="Sign in again").click()
    expect(phone.banner()).to_have_text("Connected", timeout=SLOW)
    assert Session.objects.filter(device_id=phone_id).exists()
    phone_devices = open_settings(phone.page)
    expect(phone_devices.locator("li[aria-current=true]")).to_contain_text(f"#{phone_id}", timeout=SLOW)
    assert_controls_named(phone.page)
    shot(phone.page, "44-settings-phone")

    # Both vaults now open with the new password only (the phone re-wrapped its own).
    for person in (alice, phone):
        person.page.reload()
        unlock(person, PASSWORD)
        expect(person.page.get_by_role("alert")).to_have_text("Wrong password. Try again.", timeout=SLOW)
        unlock(person, NEW_PASSWORD)
        expect(person.banner()).to_have_text("Connected", timeout=SLOW)
    # A new browser: the old password is refused at sign-in, the new one works.
    tablet = people("alice", label="alice-tablet")
    tablet.open()
    tablet.page.get_by_role("button", name="Sign in").first.click()
    tablet.page.get_by_label("Username").fill(alice.name)
    tablet.page.get_by_label("Password", exact=True).fill(PASSWORD)
    tablet.page.locator("form").get_by_role("button", name="Sign in").click()
    expect(tablet.page.get_by_role("alert")).to_have_text("Wrong username or password.", timeout=SLOW)
    tablet.page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    tablet.page.locator("form").get_by_role("button", name="Sign in").click()
    expect(tablet.banner()).to_have_text("Connected", timeout=SLOW)
    # Neither password reached the server's log.
    log = alice.server.log()
    assert PASSWORD not in log and NEW_PASSWORD not in log


def test_log_out_all_other_devices_kicks_their_socket(people: Any) -> None:
    alice = people("alice")
    alice.sign_up()
    phone = people("alice", label="alice-phone")
    phone.sign_in(phrase=alice.words)
    phone_id = Device.objects.filter(user__username__startswith=alice.name).order_by("pk").last().pk
    # Count the phone's socket closes as the browser sees them.
    phone.page.evaluate(
        """() => {
          window.__closes = [];
          const Native = window.WebSocket;
          window.WebSocket = class extends Native {
            constructor(...args) {
              super(...args);
              this.addEventListener("close", (e) => window.__closes.push(e.code));
            }
          };
        }"""
    )
    # The patched constructor takes effect on the next connection.
    phone.context.set_offline(True)
    expect(phone.banner()).to_have_text(re.compile("^Offline"), timeout=SLOW)
    phone.context.set_offline(False)
    expect(phone.banner()).to_have_text("Connected", timeout=SLOW)

    page = alice.page
    devices = open_settings(page)
    expect(devices.locator("li")).to_have_count(2, timeout=SLOW)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Log out all other devices").click()
    expect(page.get_by_role("status").filter(has_text="1 other device was signed out.")).to_be_visible(timeout=SLOW)
    phone.page.wait_for_function("() => window.__closes.includes(4002)", timeout=SLOW)
    expect(phone.banner()).to_have_text("You were signed out", timeout=SLOW)
    # It stays signed out: no silent sign-in with the password the tab still holds.
    phone.page.wait_for_timeout(2500)
    expect(phone.banner()).to_have_text("You were signed out")
    assert not Session.objects.filter(device_id=phone_id).exists()
    assert Device.objects.filter(pk=phone_id).exists()  # signed out, not revoked
    expect(devices.locator("li", has_text=f"#{phone_id}")).to_contain_text("Signed out", timeout=SLOW)
    expect(page.get_by_role("button", name="Log out all other devices")).to_be_hidden()
    shot(page, "42-settings-other-device-signed-out")
    # The laptop itself is still in.
    expect(alice.banner()).to_have_text("Connected")
    phone.page.get_by_label("Password", exact=True).fill(PASSWORD)
    phone.page.get_by_role("button", name="Sign in again").click()
    expect(phone.banner()).to_have_text("Connected", timeout=SLOW)
    # Settings opened again reads the list afresh: the phone is signed in.
    page.get_by_role("button", name="Close settings").click()
    devices = open_settings(page)
    expect(devices.locator("li", has_text=f"#{phone_id}")).to_contain_text("Active today", timeout=SLOW)
    expect(page.get_by_role("button", name="Log out all other devices")).to_be_visible()

    # Offline while it is signed out (no socket to close): back online, the tab's kept
    # password does not sign it in again either — the server refuses a silent sign-in.
    phone.context.set_offline(True)
    expect(phone.banner()).to_have_text(re.compile("^Offline"), timeout=SLOW)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Log out all other devices").click()
    expect(page.get_by_role("status").filter(has_text="1 other device was signed out.")).to_be_visible(timeout=SLOW)
    phone.context.set_offline(False)
    expect(phone.banner()).to_have_text("You were signed out", timeout=SLOW)
    phone.page.wait_for_timeout(1500)
    expect(phone.banner()).to_have_text("You were signed out")
    assert not Session.objects.filter(device_id=phone_id).exists()
    phone.page.get_by_label("Password", exact=True).fill(PASSWORD)
    phone.page.get_by_role("button", name="Sign in again").click()
    expect(phone.banner()).to_have_text("Connected", timeout=SLOW)


def test_leave_a_group_and_hand_over_ownership(people: Any) -> None:
    alice = people("alice")
    bob = people("bob")
    carol = people("carol", viewport={"width": 390, "height": 844})
    for person in (alice, bob, carol):
        person.sign_up()
    name = "Leavers Club"
    alice.typed.append(name)
    alice.create_group(name, [bob, carol])
    alice.say("Hello leavers")
    for member in (bob, carol):
        member.open_chat(name)
        member.expect_message("Hello leavers")
    chat = Chat.objects.get(kind="group", memberships__user__username__startswith=carol.name + "@")
    epoch_before = Chat.objects.get(pk=chat.pk).epoch

    # Carol leaves from the members panel.
    carol.page.get_by_role("button", name="Members").click()
    carol.page.once("dialog", lambda dialog: dialog.accept())
    carol.page.get_by_role("button", name="Leave this chat").click()
    expect(carol.page.get_by_text("You are no longer a member of this chat.")).to_be_visible(timeout=SLOW)
    assert not Membership.objects.filter(chat=chat, user__username__startswith=carol.name + "@").exists()
    # Alice's device (the owner's) takes Carol's leaf out with a commit.
    wait_until(
        lambda: Message.objects.filter(chat=chat, kind="commit", epoch__gte=epoch_before).exists(),
        alice.page,
        "the commit removing Carol's device",
    )
    alice.say("Only Bob and me now")
    bob.expect_message("Only Bob and me now")
    bob.say("Still here")
    alice.expect_message("Still here")
    carol.page.wait_for_timeout(1000)
    expect(carol.log).not_to_contain_text("Only Bob and me now")

    # Alice, the only owner, leaves: the panel asks whom to hand the chat to first.
    alice.page.get_by_role("button", name="Members").click()
    alice.page.get_by_role("button", name="Leave this chat").click()
    hand_over = alice.page.get_by_role("group", name="Hand over ownership")
    expect(hand_over).to_be_visible()
    expect(hand_over.get_by_label("New owner")).to_have_value(re.compile(rf"^{re.escape(bob.name)}@"))
    assert_controls_named(alice.page)
    shot(alice.page, "43-hand-over-before-leaving")
    epoch_before = Chat.objects.get(pk=chat.pk).epoch
    alice.page.once("dialog", lambda dialog: dialog.accept())
    hand_over.get_by_role("button", name="Make owner and leave").click()
    expect(alice.page.get_by_text("You are no longer a member of this chat.")).to_be_visible(timeout=SLOW)
    assert Membership.objects.get(chat=chat, user__username__startswith=bob.name + "@").role == "owner"
    # Bob, the new owner, commits Alice's removal and goes on (alone) in the group.
    wait_until(
        lambda: Message.objects.filter(chat=chat, kind="commit", epoch__gte=epoch_before).exists(),
        bob.page,
        "the commit removing Alice's device",
    )
    bob.say("The club is mine now")
    bob.expect_message("The club is mine now")
    alice.page.wait_for_timeout(1000)
    expect(alice.log).not_to_contain_text("The club is mine now")
    assert_private(alice.server, alice.typed)
