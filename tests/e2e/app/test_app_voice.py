"""Voice messages (issue 23): Alice records ~2 s from Chromium's fake microphone (its beep)
and sends it; Bob's bubble shows the duration and a waveform and plays it (the audio's
clock moves), seeks by a click on the waveform and switches the speed. The recording is an
encrypted file: its bytes, its duration and waveform are nowhere on the server in the clear.
A microphone the browser refuses is explained in the composer."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, expect

from tests.e2e.app.conftest import SLOW, Person, assert_controls_named, assert_private, pair, shot, watch_csp
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.support.calls import MEDIA_ARGS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Fake microphone (a beep every second) and no permission prompt."""
    launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS + MEDIA_ARGS)
    yield launched
    launched.close()


def audio_of(person: Person) -> Any:
    return person.log.locator(".voice audio").last


def audio_state(person: Person) -> dict[str, Any]:
    return dict(
        audio_of(person).evaluate(
            "a => ({ time: a.currentTime, paused: a.paused, rate: a.playbackRate, src: a.currentSrc })"
        )
    )


# What the browser's MediaRecorder handed the app (the plaintext that was encrypted): kept
# by a subclass put in place of the browser's own before the recording starts.
KEEP_RECORDED = """() => {
  window.__recorded = [];
  const Native = window.MediaRecorder;
  window.MediaRecorder = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('dataavailable', e => window.__recorded.push(e.data));
    }
  };
}"""
RECORDED = """async () => {
  const bytes = new Uint8Array(await new Blob(window.__recorded).arrayBuffer());
  let s = ''; for (const b of bytes) s += String.fromCharCode(b); return btoa(s);
}"""


def record(person: Person, seconds: float) -> None:
    page = person.page
    page.get_by_role("button", name="Record a voice message").click()
    clock = page.get_by_role("timer", name="Recording time")
    expect(clock).to_be_visible()
    page.wait_for_timeout(int(seconds * 1000))


def test_a_voice_message_is_recorded_sent_and_played(people: Any, app_server: Any) -> None:
    def make(name: str) -> Person:
        person: Person = people(name)
        person.context.grant_permissions(["microphone"], origin=app_server.url)
        return person

    alice, bob = pair(make)
    alice.page.evaluate(KEEP_RECORDED)

    # Cancel: the recording is discarded, nothing is sent.
    record(alice, 0.8)
    alice.page.get_by_role("button", name="Cancel").click()
    expect(alice.page.get_by_role("timer", name="Recording time")).to_be_hidden()
    expect(alice.page.get_by_role("button", name="Record a voice message")).to_be_visible()

    alice.page.evaluate("() => { window.__recorded = []; }")  # the cancelled one aside
    record(alice, 2.1)
    expect(alice.page.get_by_role("timer", name="Recording time")).to_have_text("0:02")
    assert alice.page.locator(".voice-meter span").count() > 0  # the live levels
    shot(alice.page, "voice-01-alice-recording")
    assert_controls_named(alice.page)
    alice.page.set_viewport_size(PHONE)
    shot(alice.page, "voice-02-alice-recording-phone")
    alice.page.set_viewport_size({"width": 1280, "height": 800})
    alice.page.get_by_role("button", name="Send voice message").click()

    # Bob: one voice message of ~2 s, with its waveform, and only one (the cancelled one never went).
    player = bob.log.locator(".voice")
    expect(player).to_have_count(1, timeout=SLOW)
    duration = int(player.get_attribute("data-duration-ms") or 0)
    assert 1900 <= duration <= 3000, duration
    expect(player.locator(".voice-time")).to_have_text("0:02")
    bars = player.locator(".voice-wave span").evaluate_all("spans => spans.map(s => parseFloat(s.style.height))")
    assert len(bars) >= 48, bars
    assert max(bars) == 100 and min(bars) < 100, bars  # a shape, not a flat line
    expect(alice.log.locator(".voice")).to_have_count(1)  # Alice sees her own note too
    expect(bob.page.locator(".chat-preview").filter(has_text="Voice message (0:02)")).to_have_count(1)
    shot(bob.page, "voice-03-bob-player")
    assert_controls_named(bob.page)

    # Play: the audio (decrypted into an object URL) runs.
    player.get_by_role("button", name="Play voice message").click()
    expect(player.get_by_role("button", name="Pause voice message")).to_be_visible()
    bob.page.wait_for_function("() => document.querySelector('.voice audio').currentTime > 0.3")
    state = audio_state(bob)
    assert state["src"].startswith("blob:"), state
    bob.page.wait_for_function("() => document.querySelector('.voice audio').paused")  # to its end
    expect(player.get_by_role("button", name="Play voice message")).to_be_visible()
    shot(bob.page, "voice-04-bob-played")

    # Seek: a click at three quarters of the waveform puts the audio there.
    track = player.locator(".voice-track")
    box = track.bounding_box()
    assert box is not None
    track.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    bob.page.wait_for_function(
        "(d) => Math.abs(document.querySelector('.voice audio').currentTime - d * 0.75) < 0.35", arg=duration / 1000
    )
    played = player.locator(".voice-wave span.played").count()
    assert 0.6 * len(bars) <= played <= 0.9 * len(bars), played

    # Speed: 1x, 1.5x, 2x, back to 1x; at 2x the audio's clock runs about twice as fast as the wall clock.
    speed = player.locator(".voice-speed")
    speed.click()
    expect(speed).to_have_text("1.5\u00d7")
    assert audio_state(bob)["rate"] == 1.5
    speed.click()
    expect(speed).to_have_text("2\u00d7")
    audio_of(bob).evaluate("a => { a.currentTime = 0; }")
    player.get_by_role("button", name="Play voice message").click()
    bob.page.wait_for_function("() => document.querySelector('.voice audio').currentTime > 0.05")
    rate = bob.page.evaluate(
        """() => new Promise(resolve => {
          const a = document.querySelector('.voice audio');
          const t0 = a.currentTime, w0 = performance.now();
          setTimeout(() => resolve((a.currentTime - t0) / ((performance.now() - w0) / 1000)), 500);
        })"""
    )
    assert 1.5 < rate < 2.6, rate
    speed.click()
    expect(speed).to_have_text("1\u00d7")
    bob.page.set_viewport_size(PHONE)
    shot(bob.page, "voice-05-bob-player-phone")

    # Privacy: the recording, its name, duration and waveform are nowhere in the clear.
    plain = base64.b64decode(alice.page.evaluate(RECORDED))
    assert len(plain) > 4000 and plain[:4] == b"\x1aE\xdf\xa3", plain[:8]  # a WebM (EBML) file
    middle = len(plain) // 2
    assert_private(
        app_server,
        [*people.typed, "voice-message.webm", "duration_ms", "waveform", f'"duration_ms":{duration}'],
        [plain[:64], plain[middle : middle + 64], plain[-64:]],
    )


@pytest.fixture
def refusing_browser(playwright: Playwright) -> Iterator[Browser]:
    """A fake microphone, but the real permission flow: no fake UI that says yes, and no
    permission granted to the context, so Chromium refuses (headless: nobody to ask)."""
    launched = playwright.chromium.launch(
        executable_path="/usr/bin/chromium", args=[*CHROMIUM_ARGS, "--use-fake-device-for-media-stream"]
    )
    yield launched
    launched.close()


def test_a_refused_microphone_is_explained(refusing_browser: Browser, app_server: Any) -> None:
    """The composer says why nothing is recorded and what to do, and sends nothing."""
    suffix = uuid.uuid4().hex[:5]
    violations: list[str] = []
    typed: list[str] = []

    def make(name: str) -> Person:
        context = refusing_browser.new_context(viewport={"width": 1280, "height": 800}, permissions=[])
        page = context.new_page()
        page.set_default_timeout(SLOW)
        watch_csp(page, violations, name)
        return Person(f"{name}{suffix}", context, page, app_server, typed)

    alice, bob = pair(make)
    alice.page.get_by_role("button", name="Record a voice message").click()
    problem = alice.page.get_by_role("alert").filter(has_text="may not use your microphone")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("Allow the microphone for this site")
    expect(alice.page.get_by_role("timer", name="Recording time")).to_be_hidden()
    shot(alice.page, "voice-06-microphone-refused")
    alice.page.set_viewport_size(PHONE)
    shot(alice.page, "voice-07-microphone-refused-phone")
    expect(bob.log.locator(".voice")).to_have_count(0)
    assert violations == []
