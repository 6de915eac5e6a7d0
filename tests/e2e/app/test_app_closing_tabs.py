"""A socket that goes while the server forwards a frame to it is normal use, never an error.

People in a group type while the others' tabs close (each closing socket's "offline" and
the typing hints are on their way to sockets that are closing too), again and again; then
Bob, whose link has stalled (a phone in a tunnel), is blocked by the operator while Alice
and Carol type and write: the server's close waits on the stalled link, and the frames
that follow are for a socket that is closing. The ones who stay still see who is typing
and read what the others write; the server's log has no ERROR line and no traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from playwright.sync_api import expect

from apps.accounts.models import User
from tests.conftest import LiveServer
from tests.e2e.app.conftest import PASSWORD, SLOW, Person
from tests.support.proxy import StallingLink

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROUNDS = 2
BURST = 10
LAST_KEY_AND_GO = """(at) => setTimeout(() => {
  const box = document.getElementById("composer");
  if (box !== null) {
    box.value = (box.value || "") + ".";
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }
  location.replace("about:blank");
}, at - Date.now())"""


def reopen(person: Person, chat: str) -> None:
    """A new tab of the same browser (the same device): unlock it and open the chat."""
    person.page = person.context.new_page()
    person.open()
    person.page.get_by_label("Password").fill(PASSWORD)
    person.page.get_by_role("button", name="Unlock").click()
    expect(person.banner()).to_have_text("Connected", timeout=SLOW)
    person.open_chat(chat)
    expect(person.composer).to_be_visible(timeout=SLOW)


def errors_in(log: str) -> list[str]:
    """The log's ERROR (and worse) lines and anything carrying a traceback."""
    bad = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            if line.strip():
                bad.append(line)  # not one of our JSON lines: a raw traceback or a crash
            continue
        if record.get("level") in ("ERROR", "CRITICAL") or "exc" in record or "Traceback" in line:
            bad.append(line)
    return bad


@pytest.fixture
def link(app_server: LiveServer) -> Iterator[StallingLink]:
    relay = StallingLink(app_server)
    yield relay
    relay.close()


def block(username: str) -> None:
    """The operator blocks the user in the admin panel (ends their sessions and sockets);
    in a thread of its own, as a request (the browser driver's event loop is in this one)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_block, username).result()


def _block(username: str) -> None:
    operator = User.objects.create_superuser(f"operator{username[:8]}", "operator password 7b41")
    admin = Client()
    admin.force_login(operator)
    user = User.objects.get(username__startswith=f"{username}@")
    done = admin.post("/admin/accounts/user/", {"action": "block_users", "_selected_action": [str(user.pk)]})
    assert done.status_code == 302, done.content[:500]
    connection.close()


def test_sockets_that_go_mid_signal_leave_no_error_in_the_server_log(
    people: Any, app_server: LiveServer, link: StallingLink
) -> None:
    start = app_server.log_path.stat().st_size
    alice, bob, carol, dave = (people(n) for n in ("alice", "bob", "carol", "dave"))
    # Bob's browser reaches the server through a link that can stall.
    bob.server = LiveServer(link.url, link.url.replace("http://", "ws://"), app_server.process, app_server.log_path)
    for person in (alice, bob, carol, dave):
        person.sign_up()
    name = "Open Windows"
    alice.typed.append(name)
    alice.create_group(name, [bob, carol, dave])
    alice.say("Everyone here?")
    leavers = (carol, dave)
    for person in (bob, *leavers):
        person.open_chat(name)
        person.expect_message("Everyone here?")

    for round_ in range(ROUNDS):
        # Everyone types; the others' hints reach Alice ("… typing") while the tabs close.
        for person in leavers:
            person.composer.press_sequentially(f"half a thought {round_}", delay=5)
        expect(alice.page.get_by_text("typing…")).to_be_visible(timeout=SLOW)
        # The tabs go at one moment while Alice writes on: her messages, her typing and each
        # one's "offline" are on their way to sockets that are closing.
        at = alice.page.evaluate("Date.now()") + 2300  # past the typing hints' rate limit
        for person in leavers:
            # a last key as the tab goes: the hint goes out to the chat, the tab's own socket too
            person.page.evaluate(LAST_KEY_AND_GO, at)
        for n in range(BURST):
            alice.say(f"are you still there {round_}.{n}")
        for person in leavers:
            person.page.wait_for_url("about:blank")
            person.page.close()
        for person in leavers:
            reopen(person, name)
        text = f"back again {round_}"
        carol.say(text)
        alice.expect_message(text)
        bob.expect_message(text)

    # Bob's link stalls; the operator blocks him: the server's close hangs on the link
    # while Carol's typing and Alice's messages are forwarded to his closing socket.
    link.stall()
    block(bob.name)
    for n in range(3):
        alice.say(f"Bob, are you there? {n}")
    dave.expect_message("Bob, are you there? 2")
    # slowly, so that a hint gets past the rate limit whatever Carol typed just before
    carol.composer.press_sequentially("did Bob just vanish?", delay=150)
    expect(dave.page.get_by_text("typing…")).to_be_visible(timeout=SLOW)
    link.resume()
    expect(bob.banner()).not_to_have_text("Connected", timeout=SLOW)  # his tab learns it is out
    # The others carry on.
    dave.say("Still here")
    alice.expect_message("Still here")

    problems = errors_in(app_server.log_path.read_bytes()[start:].decode(errors="replace"))
    assert problems == [], "\n".join(problems)[:4000]
