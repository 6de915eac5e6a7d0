"""Web Push in the PWA. Chromium cannot reach a real push service here, so the push is
delivered to the service worker with the DevTools protocol
(`ServiceWorker.deliverPushMessage`), its payload made by the server's own encoder
(apps/push/webpush.py). Locked: a generic notification; unlocked with "show message
text": the real text and the chat's picture, from the tab; a click opens the chat."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, expect

from apps.push.webpush import encode_payload
from tests.e2e.app.conftest import PASSWORD, SLOW, Person, deliver_push, notifications, pair
from tests.e2e.conftest import CHROMIUM_ARGS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """A fake camera and microphone (as in test_app_calls), for answering from a notification."""
    fake_media = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS + fake_media)
    yield launched
    launched.close()


ICON = """async (tag) => {
  const [n] = await (await navigator.serviceWorker.ready).getNotifications({tag});
  return n ? n.icon : null;
}"""
# A 64x64 JPEG drawn by the page's canvas.
CANVAS_JPEG = """() => {
  const c = document.createElement('canvas'); c.width = 64; c.height = 64;
  const g = c.getContext('2d'); g.fillStyle = '#8e44ad'; g.fillRect(0, 0, 64, 64);
  return c.toDataURL('image/jpeg', 0.9).split(',')[1];
}"""

CLICK = """async ([tag, action]) => {
  const [n] = await self.registration.getNotifications({tag});
  self.dispatchEvent(new NotificationEvent('notificationclick', {notification: n, action}));
}"""


def click(person: Person, tag: str, action: str) -> None:
    """What the browser does when the person clicks the notification (or one of its
    buttons): no automation can click a system notification, so the worker gets the event."""
    [worker] = [w for w in person.context.service_workers if w.url.endswith("/sw.js")]
    worker.evaluate(CLICK, [tag, action])


def test_a_push_shows_a_generic_notification_when_locked_and_the_text_when_unlocked(people: Any) -> None:
    alice, bob = pair(people)
    bob.context.grant_permissions(["notifications"], origin=bob.server.url)
    chat_id = bob.page.url.split("#chat=")[1]
    bob.page.evaluate("history.replaceState(null, '', '/')")  # the chat does not reopen after the reload

    # Locked (the unlock screen): nobody can read anything, the notification is generic.
    bob.page.reload()
    expect(bob.page.get_by_role("button", name="Unlock")).to_be_visible(timeout=SLOW)
    deliver_push(bob, encode_payload("message", chat_id))
    [shown] = notifications(bob, f"chat-{chat_id}")
    assert shown == {"title": "Talkee", "body": "New message", "tag": f"chat-{chat_id}", "actions": []}
    deliver_push(bob, encode_payload("call", chat_id))
    [ringing] = notifications(bob, f"call-{chat_id}")
    assert ringing["body"] == "Incoming call" and ringing["actions"] == ["Answer", "Decline"]

    # Alice gives herself a picture (Bob's device gets her profile key end to end).
    alice.page.get_by_role("button", name="Settings").click()
    alice.page.get_by_label(re.compile("^Picture")).set_input_files(
        {"name": "me.jpg", "mimeType": "image/jpeg", "buffer": base64.b64decode(alice.page.evaluate(CANVAS_JPEG))}
    )
    expect(alice.page.get_by_role("img", name="Your picture")).to_be_visible(timeout=SLOW)
    alice.page.get_by_role("button", name="Close settings").click()

    # Unlocked, "show message text when unlocked" on: the tab gives the real text.
    bob.page.get_by_label("Password").fill(PASSWORD)
    bob.page.get_by_role("button", name="Unlock").click()
    expect(bob.banner()).to_have_text("Connected", timeout=SLOW)
    bob.page.get_by_role("button", name="Settings").click()
    expect(bob.page.get_by_role("button", name="Turn on notifications")).to_be_visible()
    bob.page.get_by_label("Show message text when unlocked").check()
    bob.page.get_by_role("button", name="Close settings").click()
    alice.say("Meet at the old mill")
    expect(bob.page.get_by_role("button", name=f"Open chat {alice.name}, 1 unread")).to_be_visible(timeout=SLOW)
    deliver_push(bob, encode_payload("message", chat_id))
    deadline = time.monotonic() + 15
    while (shown := notifications(bob, f"chat-{chat_id}")[0])["body"] != "Meet at the old mill":
        assert time.monotonic() < deadline, shown
        bob.page.wait_for_timeout(200)
    assert alice.name in shown["title"]  # one notification per chat: the newer replaced the generic one
    # With her picture, drawn from Bob's vault by his tab (the push carried none).
    avatar = bob.page.locator("li.chat-row .avatar img").first
    expect(avatar).to_have_attribute("src", re.compile(r"^data:image/jpeg;base64,"), timeout=SLOW)
    deliver_push(bob, encode_payload("message", chat_id))
    deadline = time.monotonic() + 15
    while (icon := bob.page.evaluate(ICON, f"chat-{chat_id}")) != avatar.get_attribute("src"):
        assert time.monotonic() < deadline, (icon or "")[:60]
        bob.page.wait_for_timeout(200)
    assert len(notifications(bob, f"chat-{chat_id}")) == 1

    # A click (no automation can click a system notification: the worker gets the event
    # the browser would send) opens the chat in the open tab.
    click(bob, f"chat-{chat_id}", "")
    bob.expect_message("Meet at the old mill")
    expect(bob.composer).to_be_visible()
    assert bob.page.url.endswith(f"#chat={chat_id}")
    assert notifications(bob, f"chat-{chat_id}", count=0) == []  # clicked: closed


def test_an_incoming_call_push_offers_answer_and_decline(people: Any, app_server: Any) -> None:
    alice, bob = pair(people)
    for person in (alice, bob):
        person.context.grant_permissions(["camera", "microphone", "notifications"], origin=app_server.url)
    chat_id = bob.page.url.split("#chat=")[1]
    tag = f"call-{chat_id}"

    # Decline from the notification: the ringing tab declines, the caller is told.
    alice.page.locator(".conv-header").get_by_role("button", name="Call", exact=True).click()
    expect(bob.page.get_by_role("dialog", name="Call")).to_contain_text("is calling you", timeout=SLOW)
    deliver_push(bob, encode_payload("call", chat_id))
    [ringing] = notifications(bob, tag)
    assert ringing["body"] == "Incoming call" and ringing["actions"] == ["Answer", "Decline"]
    assert alice.name in ringing["title"]  # from the unlocked tab, not from the push
    click(bob, tag, "decline")
    expect(alice.page.locator(".call-state")).to_have_text("Call ended · Declined", timeout=SLOW)
    alice.page.get_by_role("button", name="Close").click()
    bob.page.get_by_role("button", name="Close").click()

    # Answer from the notification: the call connects.
    alice.page.locator(".conv-header").get_by_role("button", name="Call", exact=True).click()
    expect(bob.page.get_by_role("dialog", name="Call")).to_contain_text("is calling you", timeout=SLOW)
    deliver_push(bob, encode_payload("call", chat_id))
    notifications(bob, tag)
    click(bob, tag, "answer")
    for person in (alice, bob):
        expect(person.page.locator(".call-state")).to_have_text("Connected", timeout=SLOW)
    alice.page.get_by_role("button", name="Hang up").click()
    expect(bob.page.locator(".call-state")).to_have_text("Call ended", timeout=SLOW)


def test_answer_on_a_call_notification_while_locked_takes_the_call_after_unlocking(
    people: Any, app_server: Any
) -> None:
    alice, bob = pair(people)
    for person in (alice, bob):
        person.context.grant_permissions(["camera", "microphone", "notifications"], origin=app_server.url)
    chat_id = bob.page.url.split("#chat=")[1]
    tag = f"call-{chat_id}"
    bob.page.evaluate("history.replaceState(null, '', '/')")
    bob.page.reload()  # locked: no socket, so the call reaches Bob only as a push
    expect(bob.page.get_by_role("button", name="Unlock")).to_be_visible(timeout=SLOW)

    alice.page.locator(".conv-header").get_by_role("button", name="Call", exact=True).click()
    deliver_push(bob, encode_payload("call", chat_id))
    [ringing] = notifications(bob, tag)
    assert ringing == {"title": "Talkee", "body": "Incoming call", "tag": tag, "actions": ["Answer", "Decline"]}
    click(bob, tag, "answer")
    bob.page.wait_for_function(f"() => location.hash === '#chat={chat_id}&call=answer'", timeout=SLOW)
    bob.page.get_by_label("Password").fill(PASSWORD)
    bob.page.get_by_role("button", name="Unlock").click()
    # Alice's app repeats the offer while it rings; Bob's app takes the call when it arrives.
    for person in (alice, bob):
        expect(person.page.locator(".call-state")).to_have_text("Connected", timeout=SLOW)
    expect(bob.composer).to_be_visible()
    alice.page.get_by_role("button", name="Hang up").click()
    expect(bob.page.locator(".call-state")).to_have_text("Call ended", timeout=SLOW)
