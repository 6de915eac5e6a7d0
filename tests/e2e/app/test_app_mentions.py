"""Links and mentions (issue 23) and mentions in muted chats (issue 19).

Addresses in a message become safe links (http, https, mailto; never `javascript:`);
"@" in a group's composer opens a member picker driven by the keyboard; the mention is
highlighted on the receiver's side (more strongly for the person mentioned) and puts an
"@" on their chat list's badge; in a chat muted on a device, a push notifies only for a
mention, and only while "Notify me of mentions in muted chats" is on. Neither the
mention nor the link text reaches the database or the server log."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import expect

from apps.devices.models import Device
from apps.push.models import PushSubscription
from apps.push.webpush import encode_payload
from tests.e2e.app.conftest import SLOW, Person, assert_private, deliver_push, notifications, pair, shot, unlock
from tests.push.standin import PushServiceStandIn

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def link_hrefs(person: Person, text: str) -> list[dict[str, str]]:
    return (
        person.message(text)
        .locator("a")
        .evaluate_all(
            "els => els.map(a => ({text: a.textContent, href: a.getAttribute('href'), rel: a.rel, target: a.target}))"
        )
    )


def test_links_are_safe_anchors_and_javascript_is_text(people: Any) -> None:
    alice, bob = pair(people)
    text = (
        "Guide at https://example.org/talkee-guide?step=2 or write to help-desk@example.net — not javascript:alert(1)"
    )
    alice.say(text)
    bob.expect_message(text)
    for person in (alice, bob):
        assert link_hrefs(person, text) == [
            {
                "text": "https://example.org/talkee-guide?step=2",
                "href": "https://example.org/talkee-guide?step=2",
                "rel": "noopener noreferrer",
                "target": "_blank",
            },
            {
                "text": "help-desk@example.net",
                "href": "mailto:help-desk@example.net",
                "rel": "noopener noreferrer",
                "target": "_blank",
            },
        ]
    # A message that is only a javascript: or data: URL (or markup) stays text: no anchor, no element.
    hostile = "javascript:alert(document.cookie)"
    markup = 'data:text/html,<img src=x onerror="alert(1)">'
    alice.say(hostile)
    alice.say(markup)
    bob.expect_message(hostile)
    bob.expect_message(markup)
    for sent in (hostile, markup):
        assert bob.message(sent).locator(".text *").count() == 0
    assert bob.page.locator("a[href^='javascript'], a[href^='data'], .text img").count() == 0
    shot(bob.page, "23a-links")
    assert_private(alice.server, [text, "talkee-guide", "help-desk@example.net", hostile])


def mention(writer: Person, other: Person, tail: str, click: bool = False) -> str:
    """`writer` types "@" and the start of `other`'s name, picks them (Enter, or the mouse),
    writes `tail` and sends; the text as sent."""
    writer.composer.press_sequentially(f"@{other.name[:3]}")
    options = writer.page.get_by_role("listbox", name="Mention a member").get_by_role("option")
    expect(options).to_have_count(1)
    if click:
        options.first.click()  # the mouse picks too
    else:
        writer.composer.press("Enter")
    expect(writer.composer).to_have_value(f"@{other.name} ")
    writer.composer.press_sequentially(tail)
    text = f"@{other.name} {tail}"
    writer.typed.append(text)
    writer.composer.press("Enter")
    writer.expect_message(text)
    return text


def make_group(alice: Person, name: str, members: list[Person]) -> None:
    alice.typed.append(name)
    alice.create_group(name, members)


def test_a_mention_picked_with_the_keyboard_highlights_and_marks_the_badge(people: Any) -> None:
    alice = people("alice")
    bob = people("bob", viewport={"width": 390, "height": 844})
    carol = people("carol")
    for person in (alice, bob, carol):
        person.sign_up()
    group = "Mill Walkers"
    make_group(alice, group, [bob, carol])
    alice.say("Hello walkers")
    bob.open_chat(group)
    bob.expect_message("Hello walkers")
    bob.page.get_by_role("button", name="Back to chats").click()  # Bob reads the list (phone)

    picker = alice.page.get_by_role("listbox", name="Mention a member")
    composer = alice.composer
    composer.fill("")
    composer.press_sequentially("Lunch at noon? @")
    expect(picker).to_be_visible()
    options = picker.get_by_role("option")
    expect(options).to_have_count(2)  # Bob and Carol, never Alice herself
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    shot(alice.page, "23b-mention-picker")
    composer.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    composer.press("ArrowDown")  # wraps around to the first
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    composer.press("Escape")  # closes the list, keeps the text
    expect(picker).to_be_hidden()
    expect(composer).to_have_value("Lunch at noon? @")
    composer.press_sequentially(bob.name[:2])  # the list comes back, filtered
    expect(options).to_have_count(1)
    expect(options.nth(0)).to_contain_text(bob.name)
    composer.press("Enter")  # picks Bob: does not send
    expect(composer).to_have_value(f"Lunch at noon? @{bob.name} ")
    composer.press_sequentially("and @")
    composer.press("ArrowUp")  # up from the first is the last: Carol
    composer.press("Tab")
    expect(composer).to_have_value(f"Lunch at noon? @{bob.name} and @{carol.name} ")
    composer.press_sequentially("bring the map")
    text = f"Lunch at noon? @{bob.name} and @{carol.name} bring the map"
    alice.typed.append(text)
    composer.press("Enter")
    alice.expect_message(text)

    # Bob's list: the chat's badge carries the "@" of a mention.
    mentioned = bob.page.get_by_role("button", name=f"Open chat Group {group}, 1 unread, you were mentioned")
    expect(mentioned).to_be_visible(timeout=SLOW)
    expect(bob.page.locator("li.chat-row", has=mentioned).locator(".badge.mentioned")).to_have_text("@1")
    shot(bob.page, "23c-mention-badge-phone")
    # Carol never opened the chat: two unread, one of them mentions her.
    carol_list = carol.page.get_by_role("button", name=f"Open chat Group {group}, 2 unread, you were mentioned")
    expect(carol_list).to_be_visible(timeout=SLOW)
    carol_list.click()
    carol.expect_message(text)
    expect(carol.message(text).locator(".mention.mention-me")).to_have_text(f"@{carol.name}")
    expect(carol.message(text).locator(".mention:not(.mention-me)")).to_have_text(f"@{bob.name}")
    mentioned.click()
    bob.expect_message(text)
    bubble = bob.message(text)
    expect(bubble.locator(".mention.mention-me")).to_have_text(f"@{bob.name}")
    expect(bubble.locator(".mention:not(.mention-me)")).to_have_text(f"@{carol.name}")
    shot(bob.page, "23d-mention-highlight")
    bob.composer.press_sequentially("@")  # the picker on a phone
    expect(bob.page.get_by_role("listbox", name="Mention a member").get_by_role("option")).to_have_count(2)
    shot(bob.page, "23f-mention-picker-phone")
    bob.composer.press("Escape")
    bob.composer.fill("")
    # Opened: the badge and its "@" are gone.
    bob.page.get_by_role("button", name="Back to chats").click()
    expect(bob.page.get_by_role("button", name=re.compile(rf"^Open chat Group {group}$"))).to_be_visible()

    # A message without a mention leaves no "@".
    alice.say("Plain message, no names")
    expect(bob.page.get_by_role("button", name=f"Open chat Group {group}, 1 unread")).to_be_visible(timeout=SLOW)
    assert bob.page.locator(".badge.mentioned").count() == 0

    # An edit's mentions replace the first version's: the plain message now names Bob.
    alice.message("Plain message, no names").get_by_role("button", name="Edit").click()
    edited = f"Plain message, now for @{bob.name} too"
    alice.typed.append(edited)
    alice.composer.fill(edited)
    alice.composer.press("Enter")
    bob.open_chat(group)
    bob.expect_message(edited)
    expect(bob.message(edited).locator(".mention.mention-me")).to_have_text(f"@{bob.name}")
    carol.expect_message(edited)
    expect(carol.message(edited).locator(".mention:not(.mention-me)")).to_have_text(f"@{bob.name}")
    assert_private(alice.server, [text, edited, f"@{bob.name} and", "bring the map", "Plain message, no names"])


def test_a_muted_chat_notifies_only_for_a_mention_and_only_when_allowed(people: Any) -> None:
    alice = people("alice")
    bob = people("bob", viewport={"width": 390, "height": 844})
    carol = people("carol")
    for person in (alice, bob, carol):
        person.sign_up()
    group = "Quiet Corner"
    make_group(alice, group, [bob, carol])
    alice.say("Welcome to the corner")
    bob.open_chat(group)
    bob.expect_message("Welcome to the corner")
    chat_id = bob.page.url.split("#chat=")[1]
    tag = f"chat-{chat_id}"
    bob.context.grant_permissions(["notifications"], origin=bob.server.url)
    bob.page.get_by_label("Notifications for this chat on this device").select_option("always")
    expect(bob.page.get_by_text("Chat muted on this device (calls still ring).")).to_be_visible()
    bob.page.get_by_role("button", name="Back to chats").click()

    def push_after(text: str, unread: int) -> None:
        alice.say(text)
        expect(
            bob.page.get_by_role("button", name=re.compile(rf"^Open chat Group {group}, {unread} unread"))
        ).to_be_visible(timeout=SLOW)
        deliver_push(bob, encode_payload("message", chat_id))

    def mention_bob(tail: str, click: bool = False) -> str:
        return mention(alice, bob, tail, click)

    # Muted, no mention: the push stays quiet.
    push_after("Nothing for Bob here", 1)
    bob.page.wait_for_timeout(2500)  # the worker asked the tab (it answers within 1.5 s)
    assert notifications(bob, tag, count=0) == []

    # Muted, a mention of Bob, the setting on (the default): it notifies.
    mention_bob("your turn to bring tea")
    expect(
        bob.page.get_by_role("button", name=re.compile(rf"^Open chat Group {group}, 2 unread, you were mentioned"))
    ).to_be_visible(timeout=SLOW)
    deliver_push(bob, encode_payload("message", chat_id))
    [shown] = notifications(bob, tag)
    assert shown["title"] == group and shown["body"] == "You were mentioned"
    bob.page.evaluate(
        "async (tag) => (await (await navigator.serviceWorker.ready).getNotifications({tag})).forEach(n => n.close())",
        tag,
    )

    # The setting off: a mention in a muted chat stays quiet too.
    bob.page.get_by_role("button", name="Settings").click()
    setting = bob.page.get_by_label("Notify me of mentions in muted chats")
    expect(setting).to_be_checked()
    setting.uncheck()
    shot(bob.page, "23e-mention-setting")
    bob.page.get_by_role("button", name="Close settings").click()
    mention_bob("second reminder", click=True)
    expect(
        bob.page.get_by_role("button", name=re.compile(rf"^Open chat Group {group}, 3 unread, you were mentioned"))
    ).to_be_visible(timeout=SLOW)
    deliver_push(bob, encode_payload("message", chat_id))
    bob.page.wait_for_timeout(2500)
    assert notifications(bob, tag, count=0) == []
    assert_private(alice.server, ["your turn to bring tea", "second reminder", "Nothing for Bob here"])


def test_a_mention_wakes_a_closed_app_in_a_muted_chat_through_a_real_push(
    people: Any, celery_worker: Any, push_service: PushServiceStandIn
) -> None:
    """The whole way: Alice's PWA tells the server whom her message mentions; Bob's app is
    closed and muted the chat; the worker pushes his device a "mention" (the push service
    stand-in verifies VAPID and decrypts); a message that mentions nobody stays quiet, and so
    does a mention once Bob turned "Notify me of mentions in muted chats" off (the setting
    reaches the server)."""
    alice, bob = people("alice"), people("bob")
    for person in (alice, bob):
        person.sign_up()
    group = "Night Shift"
    make_group(alice, group, [bob])
    alice.say("Shift starts at ten")
    bob.open_chat(group)
    bob.expect_message("Shift starts at ten")
    chat_id = bob.page.url.split("#chat=")[1]
    bob.page.get_by_label("Notifications for this chat on this device").select_option("always")
    expect(bob.page.get_by_text("Chat muted on this device (calls still ring).")).to_be_visible()
    device = Device.objects.get(user__username__startswith=f"{bob.name}@")
    phone = push_service.subscribe()  # what Bob's browser would have handed the server
    PushSubscription.objects.create(device=device, endpoint=phone.endpoint, p256dh=phone.p256dh, auth=phone.auth)
    bob.page.close()  # the app is closed: no socket, only pushes reach him
    quiet = settings.TALKEE_PUSH_COALESCE_SECONDS + 3

    def mention_bob(tail: str) -> str:
        return mention(alice, bob, tail)

    alice.say("Nobody is named in this one")
    time.sleep(quiet)
    assert push_service.pushes_for(phone) == []
    mention_bob("can you cover for me")
    [push] = push_service.wait_for(phone, timeout=quiet + 15)
    assert json.loads(push.plaintext) == {"v": 1, "kind": "mention", "chat": chat_id}
    assert bob.name.encode() not in push.body + push.plaintext

    # Bob turns mentions in muted chats off: his next mention stays quiet.
    bob.page = bob.context.new_page()
    unlock(bob)
    bob.page.get_by_role("button", name="Settings").click()
    setting = bob.page.get_by_label("Notify me of mentions in muted chats")
    expect(setting).to_be_enabled()
    expect(setting).to_be_checked()
    setting.uncheck()
    expect(setting).to_be_enabled()  # the server took it
    bob.page.close()
    mention_bob("never mind, found someone")
    time.sleep(quiet)
    assert len(push_service.pushes_for(phone)) == 1
    assert_private(alice.server, ["can you cover for me", "never mind, found someone", "Nobody is named"])
