"""Self-destruct timers and burn-on-read."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from apps.messages.models import Message
from tests.e2e.app.conftest import SLOW, assert_private, pair, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_burn_on_read_and_self_destruct(people: Any) -> None:
    alice, bob = pair(people)

    alice.page.get_by_label("Burn after reading").check()
    alice.say("The safe code is 4711")
    reveal = bob.log.get_by_role("button", name="Show message (burns after reading)")
    expect(reveal).to_be_visible(timeout=SLOW)
    expect(bob.log).not_to_contain_text("The safe code is 4711")
    expect(bob.page.get_by_role("list", name="Chats")).not_to_contain_text("The safe code is 4711")
    shot(bob.page, "17-burn-on-read")
    reveal.click()
    bob.expect_message("The safe code is 4711")
    # Reading it burns it for everyone: Alice's copy goes, and the server keeps no ciphertext.
    expect(alice.log).not_to_contain_text("The safe code is 4711", timeout=SLOW)
    burnt = Message.objects.filter(burn_on_read=True).get()
    assert burnt.deleted_at is not None and burnt.ciphertext is None

    alice.page.get_by_label("Self-destruct timer").select_option("10")
    alice.say("This vanishes in ten seconds")
    bob.expect_message("This vanishes in ten seconds")
    expect(bob.message("This vanishes in ten seconds").get_by_label("Self-destructs")).to_be_visible()
    row = Message.objects.exclude(expires_at=None).get()
    assert row.expires_at is not None
    assert (row.expires_at - row.created).total_seconds() == pytest.approx(10, abs=1)
    expect(bob.log).not_to_contain_text("This vanishes in ten seconds", timeout=20_000)
    expect(alice.log).not_to_contain_text("This vanishes in ten seconds", timeout=5_000)
    assert_private(alice.server, alice.typed)


def test_chat_timer_set_by_either_person_expires_for_both(people: Any, celery_worker_process: Any) -> None:
    from apps.chats.models import Chat
    from apps.messages.tasks import purge_stale_ciphertext

    alice, bob = pair(people)
    alice.say("Said before the timer")
    bob.expect_message("Said before the timer")
    # Bob's read receipt is in before the timer (so the next row after it is Alice's message).
    expect(alice.message("Said before the timer").get_by_role("img", name="Read")).to_be_visible(timeout=SLOW)

    # Either person in a direct chat sets the chat's timer; the other sees it at once.
    bob.page.get_by_label("Timer for this chat").select_option("10")
    expect(alice.page.get_by_label("Timer for this chat")).to_have_value("10", timeout=SLOW)
    expect(alice.page.get_by_label("Self-destruct timer", exact=True)).to_contain_text("Chat timer (10 s)")
    chat = Chat.objects.get(memberships__user__username__startswith=f"{alice.name}@", kind="direct")
    assert chat.ttl_seconds == 10
    # and both see who set it, in the conversation (said end to end, by Bob's app)
    expect(alice.log.locator("li.notice")).to_have_text(f"{bob.name} set the self-destruct timer to 10 s", timeout=SLOW)
    expect(bob.log.locator("li.notice")).to_have_text("You set the self-destruct timer to 10 s", timeout=SLOW)
    shot(alice.page, "20-chat-timer")

    seq_before = Message.objects.filter(chat=chat).order_by("-seq").values_list("seq", flat=True).first()
    alice.say("Gone for both of us in ten seconds")
    bob.expect_message("Gone for both of us in ten seconds")
    expect(bob.message("Gone for both of us in ten seconds").get_by_label("Self-destructs")).to_be_visible()
    expect(alice.message("Gone for both of us in ten seconds").get_by_label("Self-destructs")).to_be_visible()
    row = Message.objects.filter(chat=chat, kind="application", seq__gt=seq_before).order_by("seq").first()
    assert row is not None and row.expires_at is not None
    assert (row.expires_at - row.created).total_seconds() == pytest.approx(10, abs=1.5)

    # At expiry both apps drop the text (the server's purge then takes the ciphertext).
    expect(bob.log).not_to_contain_text("Gone for both of us in ten seconds", timeout=20_000)
    expect(alice.log).not_to_contain_text("Gone for both of us in ten seconds", timeout=5_000)
    expect(bob.log.get_by_text("Message expired")).to_have_count(1)
    bob.expect_message("Said before the timer")  # sent before the timer: stays
    shot(bob.page, "21-chat-timer-expired")
    purge_stale_ciphertext.delay()
    row_id = row.pk
    for _ in range(150):
        row.refresh_from_db()
        if row.ciphertext is None:
            break
        bob.page.wait_for_timeout(200)
    assert row.ciphertext is None and row.deleted_at is not None, celery_worker_process.read_text()[-2000:]

    # Turned off again: messages from now on stay.
    alice.page.get_by_label("Timer for this chat").select_option("")
    expect(bob.page.get_by_label("Timer for this chat")).to_have_value("", timeout=SLOW)
    seq_off = Message.objects.filter(chat=chat).order_by("-seq").values_list("seq", flat=True).first()
    alice.say("This one stays")
    bob.expect_message("This one stays")
    after = Message.objects.filter(chat=chat, kind="application", seq__gt=seq_off)
    assert after.exists() and all(m.expires_at is None for m in after) and row_id not in {m.pk for m in after}
    expect(bob.message("This one stays").get_by_label("Self-destructs")).to_have_count(0)
    assert_private(alice.server, alice.typed)
