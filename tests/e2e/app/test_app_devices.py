"""Multi-device (issue 8), three browser contexts: Alice on two devices and Bob talk; a
third device of Alice signs in and shows the old history from a sealed bundle; revoking
device 2 in Settings kicks it at once, and a copy of its saved MLS state cannot read what
is sent afterwards. The purge of bundles after expiry is tested in tests/devices."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from apps.chats.models import Chat
from apps.devices.models import Device
from apps.messages.models import DeviceInbox, Message
from tests.e2e.app.conftest import PASSWORD, SLOW, Person, assert_controls_named, assert_private, pair, shot
from tests.e2e.crypto.conftest import Harness, HarnessError, harness_url  # noqa: F401  (fixture)
from tests.support.vault import DUMP_VAULT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


# A copy of the vault as it lies in the browser profile (raw IndexedDB records), the way
# someone who kept the revoked device's disk would hold it.
def mine(person: Person, text: str) -> None:
    """The message is shown, as one of the user's own (sent from this or a sibling device)."""
    person.expect_message(text)
    expect(person.message(text)).to_have_class(re.compile(r"\bmine\b"))


def theirs(person: Person, text: str) -> None:
    person.expect_message(text)
    expect(person.message(text)).to_have_class(re.compile(r"\btheirs\b"))


class HeldStream:
    """One person's device stream through a Playwright WebSocket route that can hold back
    what the server sends (the socket stays up; pings and the handshake pass)."""

    STREAM = {"event", "reaction", "device_event"}

    def __init__(self, person: Person) -> None:
        self.hold = False
        self.held: list[tuple[WebSocketRoute, str]] = []
        person.page.route_web_socket("**/v1/ws", self._route)
        # Reconnect so the socket goes through the route.
        person.context.set_offline(True)
        expect(person.banner()).to_have_text(re.compile("^Offline"), timeout=SLOW)
        person.context.set_offline(False)
        expect(person.banner()).to_have_text("Connected", timeout=SLOW)

    def _route(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            if self.hold and json.loads(text).get("type") in self.STREAM:
                self.held.append((ws, text))
            else:
                ws.send(text)

        server.on_message(from_server)

    def release(self, upto: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Passes the held frames on in order: up to the first `upto` picks (then holds on), or all."""
        while self.held:
            ws, text = self.held.pop(0)
            ws.send(text)
            if upto is not None and upto(json.loads(text)):
                return
        assert upto is None, "no held frame matched"
        self.hold = False


def wait_until(check: Any, page: Page, what: str, timeout_ms: int = SLOW * 2) -> Any:
    """Polls the database (bounded) while the browsers work."""
    waited = 0
    while waited < timeout_ms:
        value = check()
        if value:
            return value
        page.wait_for_timeout(250)
        waited += 250
    raise AssertionError(f"timed out waiting for {what}")


def test_three_devices_history_sync_and_revoke(people: Any, harness_url: str) -> None:  # noqa: F811
    alice, bob = pair(people)
    chat = Chat.objects.get(memberships__user__username__startswith=alice.name + "@")
    # A group Bob owns, where Alice is a plain member (she cannot seal its name again).
    group_name = "Weekend plans"
    bob.typed.append(group_name)
    bob.page.get_by_role("button", name="New group or channel").click()
    bob.page.get_by_label("Name", exact=True).fill(group_name)
    bob.page.get_by_label("Members (usernames, comma-separated)").fill(alice.name)
    bob.page.get_by_role("button", name="Create", exact=True).click()
    expect(bob.page.get_by_role("heading", name=group_name)).to_be_visible(timeout=SLOW)
    bob.say("Group hello before the phone")
    alice.open_chat(group_name)
    theirs(alice, "Group hello before the phone")
    alice.open_chat(bob.name)
    bob.open_chat(alice.name)

    # Alice's second browser: a new device. Her first device adds it to the chat (commit +
    # Welcome) and sends it the history sealed to its X25519 key.
    alice2 = people("alice", label="alice-phone")
    alice2.sign_in(phrase=alice.words)  # certified with the identity key from the phrase
    alice2.open_chat(bob.name)
    mine(alice2, "Hello from Alice")
    # A message from her laptop after the phone joined reaches the phone as her own; Bob
    # reading it means Bob has applied the commit that added the phone (frames are ordered).
    alice.say("Sent from the laptop after the phone joined")
    mine(alice2, "Sent from the laptop after the phone joined")
    theirs(bob, "Sent from the laptop after the phone joined")
    bob.say("Hi Alice, on both of your devices")
    theirs(alice, "Hi Alice, on both of your devices")
    theirs(alice2, "Hi Alice, on both of your devices")
    alice2.say("Typed on the phone")
    theirs(bob, "Typed on the phone")
    mine(alice, "Typed on the phone")
    # Every chat: the group too, with its name and history from the bundle.
    alice2.open_chat(group_name)
    theirs(alice2, "Group hello before the phone")
    alice2.say("The phone is in the group")
    bob.open_chat(group_name)
    theirs(bob, "The phone is in the group")
    bob.open_chat(alice.name)
    alice2.open_chat(bob.name)

    # The sibling first in line to add the next device (credential order) hears nothing
    # from the server for a while: the other one waits its turn, finds the leaf missing and
    # adds it. When the first then learns of the new device (but not yet of that commit),
    # its own commit loses the epoch (409): it catches up, finds the leaf there and stops.
    first, second = Device.objects.filter(user__username__startswith=alice.name + "@").order_by("pk")
    first_leads = str(first.client_device_id) < str(second.client_device_id)
    in_line = alice if first_leads else alice2
    standby_device = second if first_leads else first
    stream = HeldStream(in_line)
    stream.hold = True
    commits_before = Message.objects.filter(chat=chat, kind="commit").count()

    # The third device signs in and shows the old history, from bundles.
    alice3 = people("alice", label="alice-third")
    alice3.sign_in(phrase=alice.words)
    alice3.open_chat(bob.name)
    for text in ("Hello from Alice", "Sent from the laptop after the phone joined", "Typed on the phone"):
        mine(alice3, text)
    theirs(alice3, "Hi Alice, on both of your devices")
    alice3.open_chat(group_name)
    theirs(alice3, "Group hello before the phone")
    mine(alice3, "The phone is in the group")
    alice3.open_chat(bob.name)
    third = Device.objects.filter(user__username__startswith=alice.name + "@").order_by("pk").last()
    assert third is not None and third.pk not in (first.pk, second.pk)
    bundles = DeviceInbox.objects.filter(kind=DeviceInbox.Kind.SYNC_BUNDLE, device=third, chat=chat)
    assert {b.from_device_id for b in bundles} == {standby_device.pk}
    with in_line.page.expect_console_message(lambda m: "won the epoch" in m.text, timeout=SLOW):
        stream.release(upto=lambda frame: frame.get("type") == "device_event" and frame.get("kind") == "device")
    stream.release()
    alice3.say("Hello from the third device")
    theirs(bob, "Hello from the third device")
    mine(alice, "Hello from the third device")
    mine(alice2, "Hello from the third device")
    in_line.say("Back online and still in the group")
    mine(alice3, "Back online and still in the group")
    theirs(bob, "Back online and still in the group")
    assert Message.objects.filter(chat=chat, kind="commit").count() == commits_before + 1

    # Keep a copy of device 2's saved state, then a message it can still read.
    saved_state = alice2.page.evaluate(DUMP_VAULT, "talkee-vault")
    assert any(r["key"].startswith("group/") for r in saved_state)
    epoch_at_copy = Chat.objects.get(pk=chat.pk).epoch
    bob.say("Last words before the revoke")
    theirs(alice2, "Last words before the revoke")

    # Settings → Your devices, on the laptop: revoke the phone.
    page = alice.page
    page.get_by_role("button", name="Settings").click()
    devices_list = page.get_by_role("list", name="Your devices")
    expect(devices_list.locator("li")).to_have_count(3, timeout=SLOW)
    expect(devices_list.locator("li[aria-current=true]")).to_contain_text("This device")
    expect(devices_list.locator("li[aria-current=true]")).to_contain_text(f"#{first.pk}")
    assert_controls_named(page)
    shot(page, "20-settings-devices")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile(rf"^Revoke .*#{second.pk}$")).click()
    # Kicked at once: the phone's tab wipes its vault and is back at sign-in, told why.
    expect(alice2.page.get_by_role("status").filter(has_text="revoked")).to_be_visible(timeout=SLOW)
    expect(alice2.page.locator("form").get_by_role("button", name="Sign in")).to_be_visible()
    shot(alice2.page, "21-revoked-device-signed-out")
    expect(devices_list.locator("li")).to_have_count(2, timeout=SLOW)
    expect(page.get_by_role("status").filter(has_text=f"#{second.pk} was revoked")).to_be_visible()
    shot(page, "22-settings-after-revoke")
    assert not Device.objects.filter(pk=second.pk).exists()
    alice2.page.reload()
    expect(alice2.page.get_by_role("button", name="Unlock")).to_have_count(0)
    expect(alice2.page.get_by_role("button", name="Create account").first).to_be_visible(timeout=SLOW)

    # One of the remaining devices takes the phone's leaf out with a commit.
    removal = wait_until(
        lambda: Message.objects.filter(chat=chat, kind="commit", epoch__gte=epoch_at_copy).order_by("seq").first(),
        page,
        "the commit removing device 2",
    )
    page.get_by_role("button", name="Close settings").click()
    alice.open_chat(bob.name)
    # Stored after the removal, so Bob applies the removal before he reads it (stream order).
    alice.say("The phone is gone")
    theirs(bob, "The phone is gone")
    bob.say("Sent after the revoke")
    mine(alice, "The phone is gone")
    theirs(alice, "Sent after the revoke")
    theirs(alice3, "Sent after the revoke")

    # The saved copy of device 2 reads the message from before the revoke, and nothing
    # sent in the epochs after it.
    harness_page = alice2.context.new_page()
    harness_page.goto(harness_url)
    harness_page.wait_for_function("() => window.talkeeHarness !== undefined")
    harness = Harness(harness_page)
    assert harness.call("importIdb", "stolen-vault", saved_state) == len(saved_state)
    worker = harness.worker()
    worker.unlock(PASSWORD, "stolen-vault")
    chat_id = str(chat.pk)
    app_rows = Message.objects.filter(chat=chat, kind="application", ciphertext__isnull=False).order_by("seq")
    texts_before = []
    for row in app_rows.filter(epoch=epoch_at_copy, seq__lt=removal.seq):
        try:
            texts_before.append(worker.decrypt(chat_id, bytes(row.ciphertext))["payload"]["text"])
        except HarnessError:
            pass  # consumed before the copy, or this copy's own messages
    assert "Last words before the revoke" in texts_before
    after = list(app_rows.filter(epoch__gt=removal.epoch))
    assert after, "nothing was sent in the epoch after the removal"
    for row in after:
        with pytest.raises(HarnessError):
            worker.decrypt(chat_id, bytes(row.ciphertext))

    assert_private(alice.server, people.typed)


def test_a_peer_adds_a_new_device_whose_siblings_stay_silent(people: Any) -> None:
    """Bob signs in on a second browser while his first one hears nothing (asleep, lost):
    after the siblings' turns and a grace period Alice's device adds it. The new device
    then revokes the old one, whose leaf goes out with one commit."""
    alice, bob = pair(people)
    chat = Chat.objects.get(memberships__user__username__startswith=alice.name + "@")
    silent = HeldStream(bob)
    silent.hold = True
    commits_before = Message.objects.filter(chat=chat, kind="commit").count()
    bob2 = people("bob", label="bob-new")
    # With the recovery phrase the new browser certifies itself: Alice's client adds only certified devices.
    bob2.sign_in(phrase=bob.words)
    wait_until(
        lambda: Message.objects.filter(chat=chat, kind="commit").count() > commits_before,
        alice.page,
        "Alice's device adding Bob's new device",
        timeout_ms=90_000,
    )
    alice.say("Hello to your new browser")
    bob2.open_chat(alice.name)
    theirs(bob2, "Hello to your new browser")
    # No sibling added it, so no history came with it: the first message is not there.
    expect(bob2.message("Hello from Alice")).to_have_count(0)
    bob2.say("Hi from the new browser")
    theirs(alice, "Hi from the new browser")

    # The first browser hears again: the device it missed is there already, it adds nothing.
    silent.release()
    bob.open_chat(alice.name)
    theirs(bob, "Hello to your new browser")
    assert Message.objects.filter(chat=chat, kind="commit").count() == commits_before + 1

    bob2.page.get_by_role("button", name="Settings").click()
    first = Device.objects.filter(user__username__startswith=bob.name + "@").order_by("pk").first()
    assert first is not None
    bob2.page.once("dialog", lambda dialog: dialog.accept())
    bob2.page.get_by_role("button", name=re.compile(rf"^Revoke .*#{first.pk}$")).click()
    expect(bob.page.get_by_role("status").filter(has_text="revoked")).to_be_visible(timeout=SLOW)
    wait_until(
        lambda: Message.objects.filter(chat=chat, kind="commit").count() == commits_before + 2,
        alice.page,
        "the commit removing Bob's first device",
    )
    bob2.page.get_by_role("button", name="Close settings").click()
    alice.say("Only your new browser reads this")
    theirs(bob2, "Only your new browser reads this")
    assert Message.objects.filter(chat=chat, kind="commit").count() == commits_before + 2
    assert_private(alice.server, people.typed)
