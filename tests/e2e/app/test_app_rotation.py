"""Scheduled key rotation (issue 20): with each browser's clock moved past the rotation
policy's seven days (Playwright's clock; the MLS worker keeps the page's time), every
member's device makes its own self-update commit through the normal commit path — the
chat's epoch moves on by one per device — and messages still flow both ways."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage

from apps.chats.models import Chat
from apps.messages.models import Message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MINUTE = 60_000
DAY = 24 * 60 * MINUTE
ROTATED = "talkee: scheduled self-update committed"


def test_each_member_self_updates_after_the_policy_time_and_messages_still_flow(people: Any) -> None:
    alice = people("alice")
    bob = people("bob")
    rotated: dict[str, list[str]] = {"alice": [], "bob": []}
    for who, person in (("alice", alice), ("bob", bob)):
        # Installed before the app loads, so its timers run on the controllable clock (flowing in real time).
        person.page.clock.install()

        def on_console(msg: ConsoleMessage, who: str = who) -> None:
            if msg.text.startswith(ROTATED):
                rotated[who].append(msg.text)

        person.page.on("console", on_console)
    alice.sign_up()
    bob.sign_up()
    alice.start_direct(bob.name)
    alice.say("Before the rotation")
    bob.open_chat(alice.name)
    bob.expect_message("Before the rotation")
    bob.say("Reply before")
    alice.expect_message("Reply before")

    chat = Chat.objects.get(memberships__user__username__startswith=alice.name + "@")
    epoch_before = chat.epoch
    commits_before = Message.objects.filter(chat=chat, kind="commit").count()
    # Nothing is due yet: a quarter of an hour on, no commit.
    for person in (alice, bob):
        person.page.clock.fast_forward(15 * MINUTE)
    alice.page.wait_for_timeout(3000)
    assert rotated == {"alice": [], "bob": []}
    assert Message.objects.filter(chat=chat, kind="commit").count() == commits_before

    # Eight days on: each device's periodic check finds its self-update due.
    for person in (alice, bob):
        person.page.clock.fast_forward(8 * DAY)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (rotated["alice"] and rotated["bob"]):
        alice.page.wait_for_timeout(500)  # (Playwright delivers console events while it waits)
    assert rotated["alice"], "alice's device made no scheduled self-update"
    assert rotated["bob"], "bob's device made no scheduled self-update"
    chat.refresh_from_db()
    assert Message.objects.filter(chat=chat, kind="commit").count() == commits_before + 2
    assert chat.epoch == epoch_before + 2

    # Messages still flow, in the new epoch, both ways.
    alice.say("After the rotation")
    bob.expect_message("After the rotation")
    bob.say("Reply after")
    alice.expect_message("Reply after")
    last = Message.objects.filter(chat=chat, kind="application").order_by("-seq").first()
    assert last is not None and last.epoch == epoch_before + 2
    # Once rotated, nothing more is due: another hour (and its periodic checks) brings no new commit.
    for person in (alice, bob):
        person.page.clock.fast_forward(60 * MINUTE)
    alice.page.wait_for_timeout(3000)
    assert Message.objects.filter(chat=chat, kind="commit").count() == commits_before + 2
    assert len(rotated["alice"]) == 1 and len(rotated["bob"]) == 1
