"""Two people sign up in their own browsers, start a direct chat and talk; the
history survives a reload behind the password; the database and the server log
never see what they typed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.app.conftest import PASSWORD, SLOW, assert_controls_named, assert_private, pair, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_direct_chat_round_trip_and_reload(people: Any) -> None:
    alice = people("alice")
    bob = people("bob")
    alice.sign_up(shots=True)
    shot(alice.page, "01-chats-empty")
    bob.sign_up()

    alice.start_direct(bob.name)
    alice.say("Hi Bob, lunch at noon?")
    alice.expect_message("Hi Bob, lunch at noon?")

    # Unread counter (client-side) before Bob opens the chat; the preview is decrypted locally.
    unread = bob.page.get_by_role("button", name=f"Open chat {alice.name}, 1 unread")
    expect(unread).to_be_visible(timeout=SLOW)
    expect(bob.page.locator("li.chat-row", has=unread)).to_contain_text("Hi Bob, lunch at noon?")
    bob.open_chat(alice.name)
    bob.expect_message("Hi Bob, lunch at noon?")
    expect(bob.page.get_by_role("button", name=f"Open chat {alice.name}", exact=True)).to_be_visible()
    # Typing indicator and presence.
    bob.composer.fill("Sure")
    expect(alice.page.get_by_text(f"{bob.name} is typing…")).to_be_visible(timeout=SLOW)
    bob.say("Sure — the usual place")
    alice.expect_message("Sure — the usual place")
    # Enter sends, Shift+Enter makes a new line.
    bob.composer.fill("first line")
    bob.composer.press("Shift+Enter")
    bob.composer.type("second line")
    bob.typed.append("second line")
    bob.composer.press("Enter")
    two_lines = alice.log.locator("li.msg .text").filter(has_text="second line")
    expect(two_lines).to_have_count(1, timeout=SLOW)
    assert two_lines.inner_text() == "first line\nsecond line"
    expect(alice.page.locator(".conv-status")).to_have_text("online", timeout=SLOW)
    # Favourites are pinned and remembered by the server.
    alice.page.get_by_role("button", name="Add to favourites").click()
    expect(alice.page.get_by_role("button", name="Remove from favourites")).to_be_visible(timeout=SLOW)
    shot(alice.page, "02-conversation-alice")
    assert_controls_named(alice.page)
    shot(bob.page, "03-conversation-bob")

    # Reload: the vault asks for the password; a wrong one is refused.
    bob.page.reload()
    bob.page.get_by_label("Password").fill("not my password at all")
    bob.page.get_by_role("button", name="Unlock").click()
    expect(bob.page.get_by_role("alert")).to_have_text("Wrong password. Try again.", timeout=SLOW)
    shot(bob.page, "04-unlock-wrong-password")
    assert_controls_named(bob.page)
    bob.page.get_by_label("Password").fill(PASSWORD)
    bob.page.get_by_role("button", name="Unlock").click()
    expect(bob.banner()).to_have_text("Connected", timeout=SLOW)
    bob.open_chat(alice.name)
    bob.expect_message("Hi Bob, lunch at noon?")
    bob.expect_message("Sure — the usual place")
    # Still talking after the reload, both ways.
    alice.say("See you there")
    bob.expect_message("See you there")
    bob.say("Bringing the umbrella")
    alice.expect_message("Bringing the umbrella")
    assert_private(alice.server, alice.typed)


def test_offline_messages_wait_in_the_outbox_and_go_out_once_in_order(people: Any) -> None:
    alice, bob = pair(people)
    expect(alice.page.locator(".conv-status")).to_have_text("online", timeout=SLOW)
    bob.context.set_offline(True)
    expect(bob.banner()).to_have_text("Offline — new messages will be queued", timeout=SLOW)
    bob.say("Written on the train, one")
    bob.say("Written on the train, two")
    expect(bob.banner()).to_have_text("Offline — 2 messages waiting")
    for text in ("Written on the train, one", "Written on the train, two"):
        expect(bob.message(text).get_by_role("img", name="Queued for delivery")).to_be_visible()
    shot(bob.page, "05-offline-queued")
    # Nothing reached Alice while Bob was offline; she saw him go, to the minute (her own
    # observation: the server only ever says the hour)
    alice.page.wait_for_timeout(500)
    expect(alice.log).not_to_contain_text("Written on the train")
    expect(alice.page.locator(".conv-status")).to_have_text(re.compile(r"^last seen \d{1,2}:\d{2}"), timeout=SLOW)

    bob.context.set_offline(False)
    expect(bob.banner()).to_have_text("Connected", timeout=SLOW)
    alice.expect_message("Written on the train, one")
    alice.expect_message("Written on the train, two")
    texts = alice.log.locator("li.msg .text").all_inner_texts()
    assert texts.count("Written on the train, one") == 1
    assert texts.count("Written on the train, two") == 1
    assert texts.index("Written on the train, one") < texts.index("Written on the train, two")
    expect(bob.message("Written on the train, two").get_by_role("img", name="Queued for delivery")).to_have_count(0)
    # A reload on Bob's side does not send them again.
    bob.page.reload()
    bob.page.get_by_label("Password").fill(PASSWORD)
    bob.page.get_by_role("button", name="Unlock").click()
    expect(bob.banner()).to_have_text("Connected", timeout=SLOW)
    alice.page.wait_for_timeout(1000)
    texts = alice.log.locator("li.msg .text").all_inner_texts()
    assert texts.count("Written on the train, one") == 1
    assert texts.count("Written on the train, two") == 1
    assert_private(alice.server, alice.typed)


def test_edit_delete_reply_forward_react_and_ticks(people: Any) -> None:
    alice, bob = pair(people)
    # Bob has the chat open, so Alice's message turns read.
    expect(alice.message("Hello from Alice").get_by_role("img", name="Read")).to_be_visible(timeout=SLOW)

    alice.say("Meet at 5pm")
    bob.expect_message("Meet at 5pm")
    bob.message("Meet at 5pm").get_by_role("button", name="Reply").click()
    bob.say("Make it 6pm please")
    alice.expect_message("Make it 6pm please")
    expect(alice.message("Make it 6pm please").locator("blockquote")).to_contain_text("Meet at 5pm")

    bob.message("Meet at 5pm").get_by_role("button", name="React 👍").click()
    expect(alice.message("Meet at 5pm").get_by_role("button", name="👍 1")).to_be_visible(timeout=SLOW)
    alice.message("Meet at 5pm").get_by_role("button", name="React 👍").click()
    expect(bob.message("Meet at 5pm").get_by_role("button", name="👍 2")).to_be_visible(timeout=SLOW)

    alice.message("Meet at 5pm").get_by_role("button", name="Edit").click()
    alice.composer.fill("Meet at 6pm then")
    alice.typed.append("Meet at 6pm then")
    alice.composer.press("Enter")
    bob.expect_message("Meet at 6pm then")
    expect(bob.message("Meet at 6pm then").locator(".edited")).to_be_visible()

    alice.say("Oops, wrong chat")
    bob.expect_message("Oops, wrong chat")
    alice.message("Oops, wrong chat").get_by_role("button", name="Delete").click()
    expect(bob.log).not_to_contain_text("Oops, wrong chat", timeout=SLOW)
    expect(alice.log).not_to_contain_text("Oops, wrong chat")
    expect(bob.log.locator("li.deleted")).to_have_count(1)
    # Bob cannot delete Alice's message in a direct chat: he has no such button.
    expect(bob.message("Meet at 6pm then").get_by_role("button", name="Delete")).to_have_count(0)

    bob.message("Make it 6pm please").get_by_role("button", name="Forward").click()
    bob.page.get_by_role("button", name=f"Forward to {alice.name}").click()
    forwarded = alice.message("Make it 6pm please").filter(has_text=f"Forwarded from {bob.name}")
    expect(forwarded).to_have_count(1, timeout=SLOW)
    expect(bob.message("Make it 6pm please").last.get_by_role("img", name="Read")).to_be_visible(timeout=SLOW)
    shot(alice.page, "06-reply-react-edit-alice")
    shot(bob.page, "07-reply-react-edit-bob")
    assert_private(alice.server, alice.typed)


def test_blocked_websocket_falls_back_to_long_poll(people: Any) -> None:
    alice = people("alice")
    bob = people("bob")
    # Bob's network lets no WebSocket through (a filtering proxy): the socket closes at once.
    bob.context.route_web_socket(re.compile(r"/v1/ws"), lambda ws: ws.close())
    alice.sign_up()
    bob.sign_up(state="Connected over HTTPS long-poll")
    shot(bob.page, "16-long-poll-banner")
    alice.start_direct(bob.name)
    alice.say("Can you read me over plain HTTPS?")
    bob.open_chat(alice.name)
    bob.expect_message("Can you read me over plain HTTPS?")
    bob.say("Loud and clear")
    alice.expect_message("Loud and clear")
    alice.say("And the next one, live")
    bob.expect_message("And the next one, live")
    expect(bob.banner()).to_have_text("Connected over HTTPS long-poll")
    assert_private(alice.server, alice.typed)


def test_tab_killed_after_the_server_took_a_message_sends_it_exactly_once(people: Any) -> None:
    alice, bob = pair(people)
    pattern = re.compile(r"/v1/chats/[0-9a-f-]+/messages$")

    def deliver_then_drop(route: Any) -> None:
        # The server stores the message, but the answer never reaches the page.
        if route.request.method == "POST":
            route.fetch()
            route.abort()
        else:
            route.continue_()

    bob.context.route(pattern, deliver_then_drop)
    bob.say("Sent just before the swipe")
    alice.expect_message("Sent just before the swipe")
    expect(bob.message("Sent just before the swipe").get_by_role("img", name="Queued for delivery")).to_be_visible()
    # The socket is up, but the send did not get an answer: the banner says the message waits.
    expect(bob.banner()).to_have_text("Message queued for delivery")
    # The tab is killed; a new one opens the vault and finds the message still in the outbox.
    bob.page.close()
    bob.context.unroute(pattern)
    bob.page = bob.context.new_page()
    bob.page.set_default_timeout(SLOW)
    bob.open()
    bob.page.get_by_label("Password").fill(PASSWORD)
    bob.page.get_by_role("button", name="Unlock").click()
    bob.open_chat(alice.name)
    expect(bob.message("Sent just before the swipe").get_by_role("img", name="Queued for delivery")).to_have_count(
        0, timeout=SLOW
    )
    alice.page.wait_for_timeout(1500)
    assert alice.log.locator("li.msg .text").all_inner_texts().count("Sent just before the swipe") == 1
    assert_private(alice.server, alice.typed)


def test_long_history_scrolls_back_in_pages(people: Any) -> None:
    alice, bob = pair(people)
    for n in range(1, 46):
        alice.say(f"Line {n:02d}")
    bob.expect_message("Line 45")
    # Bob has read everything (his read receipt is back) before the reload.
    expect(alice.message("Line 45").get_by_role("img", name="Read")).to_be_visible(timeout=SLOW)
    bob.page.reload()
    bob.page.get_by_label("Password").fill(PASSWORD)
    bob.page.get_by_role("button", name="Unlock").click()
    bob.open_chat(alice.name)
    bob.expect_message("Line 45")
    bob.expect_message("Line 06")
    expect(bob.log).not_to_contain_text("Line 05")
    bob.log.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
    bob.expect_message("Line 01")
    bob.expect_message("Hello from Alice")
    texts = bob.log.locator("li.msg .text").all_inner_texts()
    assert texts == ["Hello from Alice"] + [f"Line {n:02d}" for n in range(1, 46)]
    assert_private(alice.server, alice.typed)
