"""The connection banner tells the truth (issue 22). With the app's server really stopped the
banner says the app is offline and how many messages wait — never a fallback carrier it is
only trying (it used to say "DNS fallback active") — and once the server is back, "Retry now"
reconnects at once instead of after the backoff, and the queued messages reach the other
person exactly once, in order."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import BLOB_DIR, LiveServer, free_port, start_daphne, stop
from tests.e2e.app.conftest import SLOW, assert_private, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SERVER_ENV = {
    "THROTTLE_LOGIN_IP": "1000/min",
    "THROTTLE_LOGIN_USER": "1000/min",
    "THROTTLE_REGISTER_IP": "1000/min",
    "DJANGO_ALLOW_ASYNC_UNSAFE": "",
}


class RestartableServer:
    """This test's own daphne (the app and the API, on the session's test database) at a
    fixed port, so the browsers find it at the same address after a restart."""

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir
        self.port = free_port()
        self.runs: list[LiveServer] = []

    @property
    def live(self) -> LiveServer:
        return self.runs[-1]

    def start(self) -> LiveServer:
        server = start_daphne(
            self.tmp_dir, name=f"banner-daphne-{len(self.runs)}", extra_env=SERVER_ENV, port=self.port
        )
        server.blob_dir = BLOB_DIR  # type: ignore[attr-defined]
        self.runs.append(server)
        return server

    def stop(self) -> None:
        stop(self.live.process)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()


@pytest.fixture
def own_server(app_server: LiveServer, tmp_path: Path) -> Iterator[RestartableServer]:
    """`app_server` first: it builds the app, which this server serves too."""
    server = RestartableServer(tmp_path)
    server.start()
    yield server
    stop(server.live.process)


RECORD_BANNER = """() => {
  const status = document.querySelector('[role=status][aria-label=Connection]');
  window.bannerTexts = [status.textContent];
  new MutationObserver(() => window.bannerTexts.push(status.textContent))
    .observe(status, { childList: true, characterData: true, subtree: true });
}"""

# The banner's countdown to the next attempt by itself, once it is at least 12 s away.
RETRY_FAR_OFF = """() => {
  const m = /Retrying in (\\d+) s/.exec(document.querySelector('.banner-detail')?.textContent ?? '');
  return m !== null && Number(m[1]) >= 12;
}"""


def test_stopped_server_banner_says_offline_with_the_queue_and_retry_now_delivers_once(
    people: Any, own_server: RestartableServer
) -> None:
    alice = people("alice")
    bob = people("bob")
    alice.server = bob.server = own_server.live
    alice.sign_up()
    bob.sign_up()
    alice.start_direct(bob.name)
    alice.say("Hello from Alice")
    bob.open_chat(alice.name)
    bob.expect_message("Hello from Alice")
    expect(bob.banner()).to_have_text("Connected")
    expect(bob.page.get_by_role("button", name="Retry now")).to_be_hidden()
    bob.page.evaluate(RECORD_BANNER)

    # The server goes down (nothing listens at its port any more).
    own_server.stop()
    expect(bob.banner()).to_have_text("Offline — new messages will be queued", timeout=SLOW)
    bob.say("Written while the server was down, one")
    bob.say("Written while the server was down, two")
    expect(bob.banner()).to_have_text("Offline — 2 messages waiting")
    for text in ("Written while the server was down, one", "Written while the server was down, two"):
        expect(bob.message(text).get_by_role("img", name="Queued for delivery")).to_be_visible()
    # The app keeps trying (the socket, HTTPS, the DoH tunnel) with a growing backoff; the
    # banner says when, and never names a carrier that did not answer.
    expect(bob.page.locator(".banner-detail")).to_have_text(re.compile(r"^(Retrying in \d+ s|Trying to reconnect…)$"))
    bob.page.wait_for_function(RETRY_FAR_OFF, timeout=60_000)
    expect(bob.banner()).to_have_text("Offline — 2 messages waiting")
    shot(bob.page, "40-server-down-offline-queued")
    seen = bob.page.evaluate("() => window.bannerTexts")
    named = [text for text in seen if re.search(r"DNS|DoH|long-poll|alternative|fallback|Connected", text)]
    assert named == ["Connected"], f"the banner named a carrier while the server was down: {seen}"

    # The server is back; the next attempt by itself is still seconds away.
    own_server.start()
    detail = bob.page.locator(".banner-detail").inner_text()
    waiting = int(re.search(r"Retrying in (\d+) s", detail).group(1))  # type: ignore[union-attr]
    assert waiting >= 4, f"the test restarted the server too slowly to tell Retry now from the timer ({detail})"
    bob.page.get_by_role("button", name="Retry now").click()
    expect(bob.banner()).to_have_text("Connected", timeout=(waiting - 1) * 1000)
    expect(bob.page.get_by_role("button", name="Retry now")).to_be_hidden()
    for text in ("Written while the server was down, one", "Written while the server was down, two"):
        expect(bob.message(text).get_by_role("img", name="Queued for delivery")).to_have_count(0, timeout=SLOW)

    # Alice's app comes back by itself (its own backoff, at most 30 s) and gets both, once, in order.
    expect(alice.banner()).to_have_text("Connected", timeout=60_000)
    alice.expect_message("Written while the server was down, one")
    alice.expect_message("Written while the server was down, two")
    alice.page.wait_for_timeout(1500)
    texts = alice.log.locator("li.msg .text").all_inner_texts()
    assert texts.count("Written while the server was down, one") == 1
    assert texts.count("Written while the server was down, two") == 1
    assert texts.index("Written while the server was down, one") < texts.index("Written while the server was down, two")
    shot(alice.page, "41-server-back-delivered-once")
    for run in own_server.runs:
        assert_private(run, alice.typed)
