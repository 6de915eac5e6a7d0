"""A one-to-one video call in a direct chat: Alice calls Bob, Bob accepts, both see
"Connected", media flows both ways through the end-to-end frame encryption, hanging up
ends it on both sides; the server relayed only opaque signalling and stored nothing."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, WebSocket, expect

from tests.e2e.app.conftest import SLOW, Person, assert_controls_named, on_b, pair, shot
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.support.calls import MEDIA_ARGS, panel_number, wait_growing

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The remote picture's width / height lies in [low, high] (decoded frames, not the element's box).
ASPECT = """([low, high]) => {
  const v = document.querySelector('.call-remote');
  return v.videoHeight > 0 && v.videoWidth / v.videoHeight >= low && v.videoWidth / v.videoHeight <= high;
}"""
LOCAL_CAMERA = "(label) => document.querySelector('.call-local').srcObject.getVideoTracks()[0].label === label"
SDP_MARKS = ("v=0", "a=candidate", "candidate:", "a=fingerprint", "a=ice-ufrag", "m=audio", "m=video", "typ host")


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """This module's browsers get fake camera and microphone; the others' do not."""
    launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS + MEDIA_ARGS)
    yield launched
    launched.close()


def capture_call_frames(person: Person) -> dict[str, list[dict[str, Any]]]:
    """Every `call` frame this page's sockets sent and received."""
    frames: dict[str, list[dict[str, Any]]] = {"sent": [], "received": []}

    def watch(ws: WebSocket) -> None:
        def keep(direction: str, payload: str | bytes) -> None:
            text = payload if isinstance(payload, str) else payload.decode(errors="replace")
            try:
                frame = json.loads(text)
            except ValueError:
                return
            if isinstance(frame, dict) and frame.get("type") == "call":
                frames[direction].append(frame)

        ws.on("framesent", lambda payload: keep("sent", payload))
        ws.on("framereceived", lambda payload: keep("received", payload))

    person.page.on("websocket", watch)
    return frames


RECORD_STATES = """() => {
  window.__callStates = [];
  new MutationObserver(() => {
    const line = document.querySelector('.call-state');
    const text = line && !line.closest('[hidden]') ? line.textContent : null;
    if (text && window.__callStates.at(-1) !== text) window.__callStates.push(text);
  }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


def record_states(person: Person) -> None:
    """Keep every state line the call panel shows, in order (some last only a moment)."""
    person.page.evaluate(RECORD_STATES)


def states(person: Person) -> list[str]:
    return list(person.page.evaluate("() => window.__callStates"))


@pytest.mark.parametrize("transform", ["script", "encoded-streams"])
def test_video_call_connects_encrypts_frames_and_hangs_up(people: Any, app_server: Any, transform: str) -> None:
    """`encoded-streams`: the page has no RTCRtpScriptTransform (older Chromium), so the
    app falls back to createEncodedStreams with encodedInsertableStreams."""
    from tests.support.database import dump_database

    frames: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def make(name: str) -> Person:
        person: Person = people(name)
        person.context.grant_permissions(["camera", "microphone"], origin=app_server.url)
        if transform == "encoded-streams":
            person.context.add_init_script("delete window.RTCRtpScriptTransform;")
        frames[name] = capture_call_frames(person)
        return person

    alice, bob = pair(make)
    record_states(alice)
    alice.page.locator(".conv-header").get_by_role("button", name="Video call").click()
    expect(alice.page.locator(".call-state")).to_have_text("Ringing", timeout=SLOW)
    prompt = bob.page.get_by_role("dialog", name="Call")
    expect(prompt).to_contain_text(f"{alice.name} is calling you (video)", timeout=SLOW)
    expect(bob.page.locator(".call-state")).to_have_text("Ringing")
    shot(alice.page, "calls-01-alice-calling")
    shot(bob.page, "calls-02-bob-incoming")
    assert_controls_named(bob.page)
    prompt.get_by_role("button", name="Accept").click()
    assert states(alice)[:2] == ["Calling…", "Ringing"], states(alice)

    for person in (alice, bob):
        expect(person.page.locator(".call-state")).to_have_text("Connected", timeout=SLOW)
    # Media flows both ways and through the frame transform on both ends.
    for person in (alice, bob):
        assert person.page.locator(".call-panel").get_attribute("data-transform") == transform
        wait_growing(person, "frames-decoded", 5)
        wait_growing(person, "frames-encrypted", 20)
        wait_growing(person, "frames-decrypted", 20)
        audio = wait_growing(person, "bytes-received-audio", 1)
        video = wait_growing(person, "bytes-received-video", 1)
        person.page.wait_for_timeout(1500)
        assert panel_number(person, "bytes-received-audio") > audio, f"{person.name}: audio stopped"
        assert panel_number(person, "bytes-received-video") > video, f"{person.name}: video stopped"
        assert panel_number(person, "frames-failed") == 0
    # The remote video really plays (decoded frames of the fake camera's size).
    for person in (alice, bob):
        size = person.page.eval_on_selector(".call-remote", "v => [v.videoWidth, v.videoHeight, v.paused]")
        assert size[0] > 0 and size[1] > 0 and size[2] is False, size
    shot(alice.page, f"calls-03-alice-connected-{transform}")
    shot(bob.page, f"calls-04-bob-connected-{transform}")
    assert_controls_named(alice.page)

    # Mute stops Alice's microphone track (the frames keep flowing: video).
    alice.page.get_by_role("button", name="Mute").click()
    expect(alice.page.get_by_role("button", name="Unmute")).to_have_attribute("aria-pressed", "true")
    assert alice.page.eval_on_selector(".call-local", "v => v.srcObject.getAudioTracks()[0].enabled") is False
    alice.page.get_by_role("button", name="Unmute").click()

    # Alice sends her screen instead of her camera (16:9 instead of the camera's 4:3): Bob's
    # picture changes shape, still decrypted frame by frame; Stop sharing brings the camera back.
    alice.page.get_by_role("button", name="Share screen").click()
    stop = alice.page.get_by_role("button", name="Stop sharing")
    expect(stop).to_have_attribute("aria-pressed", "true", timeout=SLOW)
    assert "screen" in alice.page.eval_on_selector(".call-local", "v => v.srcObject.getVideoTracks()[0].label")
    bob.page.wait_for_function(ASPECT, arg=[1.7, 1.8], timeout=SLOW)
    decrypted = panel_number(bob, "frames-decrypted")
    wait_growing(bob, "frames-decrypted", decrypted + 20)
    assert panel_number(bob, "frames-failed") == 0
    expect(alice.page.get_by_role("button", name="Switch camera")).to_be_hidden()  # the screen is sent
    shot(bob.page, f"calls-04b-bob-sees-alices-screen-{transform}")
    alice.page.get_by_role("button", name="Stop sharing").click()
    bob.page.wait_for_function(ASPECT, arg=[1.3, 1.4], timeout=SLOW)
    # Three cameras here: Alice switches twice, through to the third (Chromium's fake second
    # camera gives Y16 frames no encoder takes; the third gives MJPEG, as real cameras do).
    for label in ("fake_device_1", "fake_device_2"):
        alice.page.get_by_role("button", name="Switch camera").click()
        alice.page.wait_for_function(LOCAL_CAMERA, arg=label)
    shown = panel_number(bob, "frames-decoded")
    wait_growing(bob, "frames-decoded", shown + 20)
    assert panel_number(bob, "frames-failed") == 0

    bob.page.get_by_role("button", name="Hang up").click()
    for person in (alice, bob):
        expect(person.page.locator(".call-state")).to_have_text("Call ended", timeout=SLOW)
    shot(alice.page, "calls-05-alice-ended")
    assert alice.page.locator(".call-remote").evaluate("v => v.srcObject") is None

    # Privacy: the relayed payloads are opaque, and nothing about the call was stored.
    all_frames = [f for person_frames in frames.values() for side in person_frames.values() for f in side]
    kinds_sent = {name: len(v["sent"]) for name, v in frames.items()}
    assert all(n >= 2 for n in kinds_sent.values()), kinds_sent  # offer/answer, ICE, hangup
    payloads = set()
    for frame in all_frames:
        assert set(frame) == {"type", "chat_id", "payload"}, frame
        raw = json.dumps(frame)
        for mark in (*SDP_MARKS, alice.name, bob.name):
            assert mark not in raw, f"{mark!r} in a relayed call frame"
        decoded = base64.b64decode(frame["payload"])
        # (Marks of 7 bytes or more: a short one could turn up in ciphertext by chance.)
        for mark in (*SDP_MARKS, alice.name, bob.name):
            if len(mark) >= 7:
                assert mark.encode() not in decoded, f"{mark!r} in a call payload"
        payloads.add(frame["payload"])
    # What Alice sent is what Bob received (the server relays, it does not rewrite).
    assert {f["payload"] for f in frames["alice"]["sent"]} <= {f["payload"] for f in frames["bob"]["received"]}
    after = dump_database()
    log = app_server.log()
    for payload in payloads:
        assert payload.encode() not in after, "a call payload was stored"
        assert payload[:40] not in log, "a call payload was logged"
    # (Long marks only: a 3-byte one like "v=0" turns up in random ciphertext bytes by chance.)
    for mark in ("a=candidate", "a=fingerprint", "a=ice-ufrag", "talkee-call"):
        assert mark.encode() not in after, f"{mark!r} in the database"
        assert mark not in log, f"{mark!r} in the server log"


def test_voice_call_declined_then_called_back(people: Any, app_server: Any) -> None:
    def make(name: str) -> Person:
        person: Person = people(name)
        person.context.grant_permissions(["camera", "microphone"], origin=app_server.url)
        return person

    alice, bob = pair(make)
    # Alice calls (voice); Bob declines: Alice is told, and Bob's prompt goes away.
    alice.page.locator(".conv-header").get_by_role("button", name="Call", exact=True).click()
    prompt = bob.page.get_by_role("dialog", name="Call")
    expect(prompt).to_contain_text(f"{alice.name} is calling you", timeout=SLOW)
    expect(prompt).not_to_contain_text("(video)")
    prompt.get_by_role("button", name="Decline").click()
    expect(alice.page.locator(".call-state")).to_have_text("Call ended · Declined", timeout=SLOW)
    expect(bob.page.locator(".call-state")).to_have_text("Call ended · Declined")
    alice.page.get_by_role("button", name="Close").click()
    expect(alice.page.get_by_role("dialog", name="Call")).to_be_hidden()

    # Bob calls back from the same chat; Alice accepts: a voice call, audio only, both ways.
    bob.page.get_by_role("button", name="Close").click()
    bob.page.locator(".conv-header").get_by_role("button", name="Call", exact=True).click()
    incoming = alice.page.get_by_role("dialog", name="Call")
    expect(incoming).to_contain_text(f"{bob.name} is calling you", timeout=SLOW)
    incoming.get_by_role("button", name="Accept").click()
    for person in (alice, bob):
        expect(person.page.locator(".call-state")).to_have_text("Connected", timeout=SLOW)
        wait_growing(person, "frames-decrypted", 20)
        audio = wait_growing(person, "bytes-received-audio", 1)
        person.page.wait_for_timeout(1200)
        assert panel_number(person, "bytes-received-audio") > audio
        assert panel_number(person, "bytes-received-video") == 0  # no camera in a voice call
        assert panel_number(person, "frames-failed") == 0
        expect(person.page.locator(".call-remote")).to_be_hidden()
    shot(alice.page, "calls-06-alice-voice-connected")
    # While in a call, the header's buttons wait.
    expect(alice.page.locator(".conv-header").get_by_role("button", name="Video call")).to_be_disabled()
    # Bob's tab goes away mid-call without hanging up: Alice's call ends by itself.
    bob.page.close()
    lost = re.compile(r"^Call ended · The connection (was lost|failed)$")
    expect(alice.page.locator(".call-state")).to_have_text(lost, timeout=45_000)
    expect(alice.page.get_by_role("button", name="Hang up")).to_be_hidden()


# Every peer connection the page makes from now on may use relayed candidates only; this
# test server offers no TURN, so no way between the two is ever found.
RELAY_ONLY = """() => {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config, ...rest) { super({ ...(config || {}), iceTransportPolicy: "relay" }, ...rest); }
  };
}"""


def test_a_call_that_finds_no_way_through_ends_with_could_not_connect(people: Any, app_server: Any) -> None:
    def make(name: str) -> Person:
        person: Person = people(name)
        person.context.grant_permissions(["camera", "microphone"], origin=app_server.url)
        person.context.add_init_script(f"({RELAY_ONLY})()")  # the pages it loads from now on
        person.page.evaluate(RELAY_ONLY)  # and the one open now
        return person

    alice, bob = pair(make)
    alice.page.locator(".conv-header").get_by_role("button", name="Call", exact=True).click()
    prompt = bob.page.get_by_role("dialog", name="Call")
    expect(prompt).to_contain_text(f"{alice.name} is calling you", timeout=SLOW)
    prompt.get_by_role("button", name="Accept").click()
    expect(bob.page.locator(".call-state")).to_have_text("Connecting…")
    # Not "Connecting…" for ever: both are told, and the call is over.
    for person in (alice, bob):
        expect(person.page.locator(".call-state")).to_have_text("Call ended · Could not connect", timeout=45_000)
        expect(person.page.get_by_role("button", name="Hang up")).to_be_hidden()
    shot(bob.page, "calls-07-could-not-connect")


def test_a_video_call_between_instances(people: Any, app_server: Any, instance_b: Any) -> None:
    """alice on A calls bob on B (each browser at its own instance): the sealed signals go
    A → B and back as `call` envelopes between the instances; the call connects, media
    flows through the frame encryption both ways, hanging up ends it on both sides."""
    from tests.conftest import FEDERATION_B

    alice: Person = people("alice")
    alice.context.grant_permissions(["camera", "microphone"], origin=app_server.url)
    bob: Person = on_b(people("bob"), instance_b)
    bob.context.grant_permissions(["camera", "microphone"], origin=instance_b.url)
    alice.sign_up()
    bob.sign_up()
    alice.start_direct(f"{bob.name}@{FEDERATION_B}")
    alice.say("Calling you from A in a second")
    bob.open_chat(f"{alice.name}@localhost")
    bob.expect_message("Calling you from A in a second")

    alice.page.locator(".conv-header").get_by_role("button", name="Video call").click()
    prompt = bob.page.get_by_role("dialog", name="Call")
    expect(prompt).to_contain_text(f"{alice.name}@localhost is calling you (video)", timeout=SLOW)
    prompt.get_by_role("button", name="Accept").click()
    for person in (alice, bob):
        expect(person.page.locator(".call-state")).to_have_text("Connected", timeout=SLOW)
    for person in (alice, bob):
        wait_growing(person, "frames-decoded", 5)
        wait_growing(person, "frames-decrypted", 20)
        assert panel_number(person, "frames-failed") == 0
    shot(bob.page, "calls-07-bob-on-b-connected")
    alice.page.get_by_role("button", name="Hang up").click()
    for person in (alice, bob):
        expect(person.page.locator(".call-state")).to_have_text("Call ended", timeout=SLOW)


def test_a_blocked_caller_is_told_the_call_is_not_accepted(people: Any, app_server: Any) -> None:
    """Bob blocked Alice: her call is refused by the server, her call screen says so at once
    (not a ring that times out), and Bob's app never rings."""

    def make(name: str) -> Person:
        person: Person = people(name)
        person.context.grant_permissions(["camera", "microphone"], origin=app_server.url)
        return person

    alice, bob = pair(make)
    bob.open_chat(alice.name)
    bob.page.once("dialog", lambda dialog: dialog.accept())
    bob.page.get_by_role("button", name=f"Block {alice.name}").click()
    expect(bob.page.get_by_role("button", name=f"Unblock {alice.name}")).to_be_visible(timeout=SLOW)

    alice.open_chat(bob.name)
    alice.page.locator(".conv-header").get_by_role("button", name="Call", exact=True).click()
    expect(alice.page.locator(".call-state")).to_have_text(
        "Call ended · Not accepted: this person does not take calls from you", timeout=SLOW
    )
    shot(alice.page, "52-call-not-accepted")
    bob.page.wait_for_timeout(1500)
    expect(bob.page.get_by_role("dialog", name="Call")).to_have_count(0)
