"""The PWA from Talkee's image, through the compose stack's TLS front, in Debian's Chromium:
two people sign up, talk, send a file and reload over https — the browser trusts only the
stack's test certificate (by its public key) and resolves the test domain to loopback; and
two people call each other with relay-only ICE, so every media packet goes through the
stack's coturn (tests/deploy/relay.py gives it an address it may relay between).

The stack is docker/compose.yaml under a real Docker engine (tests/deploy/dockerstack.py);
it lives here, not in tests/deploy, because Playwright's sync API needs the second pytest run.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, Playwright, Response, expect
from playwright.sync_api import Error as PlaywrightError

from tests.deploy.dockerstack import Stack, ensure_engine, ensure_images
from tests.deploy.relay import add_relay_override
from tests.e2e.app.conftest import PASSWORD, SLOW, Person
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.support.calls import MEDIA_ARGS, panel_number, wait_growing

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(2400)]


LOG: list[str] = []


class Front:
    """What Person needs of a server: the URL the browser opens."""

    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture(scope="module")
def stack(tmp_path_factory: Any) -> Iterator[Stack]:
    ensure_engine()
    tmp = tmp_path_factory.mktemp("deploy-pwa")
    the_stack = Stack(tmp / "stack", ensure_images(tmp))
    the_stack.turn_ip = add_relay_override(the_stack)  # type: ignore[attr-defined]
    try:
        the_stack.up()
        the_stack.wait_network_quiet()
        yield the_stack
    finally:
        the_stack.down("-v", "-t", "5")


@pytest.fixture(scope="module")
def front_browser(playwright: Playwright, stack: Stack) -> Iterator[Browser]:
    cert = x509.load_pem_x509_certificate(stack.pki.cert(stack.domain).read_bytes())  # type: ignore[union-attr]
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    browser = playwright.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=[
            *CHROMIUM_ARGS,
            *MEDIA_ARGS,
            f"--host-resolver-rules=MAP {stack.domain} 127.0.0.1",
            f"--ignore-certificate-errors-spki-list={pin}",
        ],
    )
    yield browser
    browser.close()


class FrontPerson(Person):
    def open(self) -> None:
        """Docker's new interfaces (their IPv6 addresses settle a moment after `up`) make
        Chromium abort a navigation with ERR_NETWORK_CHANGED: that one is tried again."""
        for attempt in range(5):
            try:
                self.page.goto(self.server.url + "/")
                return
            except PlaywrightError as exc:
                if "ERR_NETWORK_CHANGED" not in str(exc) or attempt == 4:
                    raise
                self.page.wait_for_timeout(1000)


def log_failed_answer(name: str, response: Response) -> None:
    if response.status >= 400:
        LOG.append(f"[{name}] {response.status} {response.request.method} {response.url}")


def person(browser: Browser, stack: Stack, name: str, typed: list[str]) -> Person:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(SLOW)
    page.on("console", lambda m: LOG.append(f"[{name}] {m.type}: {m.text}"))
    page.on("pageerror", lambda e: LOG.append(f"[{name}] pageerror: {e}"))
    page.on("requestfailed", lambda r: LOG.append(f"[{name}] failed {r.url} {r.failure}"))
    page.on("response", lambda r: log_failed_answer(name, r))
    url = f"https://{stack.domain}:{stack.ports['https']}"
    return FrontPerson(f"{name}{os.urandom(3).hex()}", context, page, Front(url), typed)  # type: ignore[arg-type]


def test_two_people_talk_send_a_file_and_reload_over_https(
    front_browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    typed: list[str] = []
    alice, bob = person(front_browser, stack, "alice", typed), person(front_browser, stack, "bob", typed)
    try:
        for someone in (alice, bob):  # the first load of a cold Chromium on a busy machine is slow
            someone.open()
            expect(someone.page.get_by_role("button", name="Create account").first).to_be_visible(timeout=90_000)
        alice.sign_up()
        assert alice.page.evaluate("location.protocol") == "https:"
        assert alice.page.evaluate("window.isSecureContext") is True
        bob.sign_up()
        alice.start_direct(bob.name)
        alice.say("Hello through the front")
        bob.open_chat(alice.name)
        bob.expect_message("Hello through the front")
        bob.say("Loud and clear")
        alice.expect_message("Loud and clear")

        name = "minutes.txt"
        contents = b"agenda\n" * 1000 + os.urandom(50_000)
        (tmp_path / name).write_bytes(contents)
        alice.page.get_by_label("Attach file").set_input_files(str(tmp_path / name))
        alice.page.get_by_role("button", name="Send file").click()  # it waited with its preview
        button = bob.log.get_by_role("button", name=f"Download {name}")
        expect(button).to_be_visible(timeout=SLOW)
        with bob.page.expect_download() as download_info:
            button.click()
        download_info.value.save_as(tmp_path / "downloaded")
        assert (tmp_path / "downloaded").read_bytes() == contents

        # Reload over https: the vault asks for the password, the history is there, talk goes on.
        bob.page.reload()
        bob.page.get_by_label("Password").fill(PASSWORD)
        bob.page.get_by_role("button", name="Unlock").click()
        expect(bob.banner()).to_have_text("Connected", timeout=SLOW)
        bob.open_chat(alice.name)
        bob.expect_message("Hello through the front")
        alice.say("After your reload")
        bob.expect_message("After your reload")
        # The service worker took over the page (installable PWA: needs a secure origin).
        assert bob.page.evaluate("navigator.serviceWorker.controller !== null") is True
    finally:
        print("\n".join(LOG[-80:]))
        alice.context.close()
        bob.context.close()


# Every RTCPeerConnection the app makes uses relayed candidates only, and is kept for getStats().
RELAY_ONLY = """(() => {
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(config, ...rest) {
      super({ ...(config || {}), iceTransportPolicy: "relay" }, ...rest);
      window.__pcs.push(this);
    }
  };
})();"""

SELECTED_PAIR = """async () => {
  const pc = window.__pcs.at(-1);
  const stats = [...(await pc.getStats()).values()];
  const pair = stats.find(s => s.type === "candidate-pair" && s.nominated && s.state === "succeeded");
  if (!pair) return null;
  const local = stats.find(s => s.id === pair.localCandidateId);
  const remote = stats.find(s => s.id === pair.remoteCandidateId);
  const types = stats.filter(s => s.type === "local-candidate").map(s => s.candidateType);
  return { local: local.candidateType, localAddress: local.address, remote: remote.candidateType,
           remoteAddress: remote.address, relayProtocol: local.relayProtocol, types,
           bytesReceived: pair.bytesReceived };
}"""

# What each peer connection got to, for a failure message that says where ICE stopped.
ICE_REPORT = """async () => Promise.all(window.__pcs.map(async pc => {
  const stats = [...(await pc.getStats()).values()];
  const cands = kind => stats.filter(s => s.type === kind).map(s => `${s.candidateType}:${s.address}:${s.port}`);
  return { signaling: pc.signalingState, gathering: pc.iceGatheringState, ice: pc.iceConnectionState,
           local: cands("local-candidate"), remote: cands("remote-candidate"),
           pairs: stats.filter(s => s.type === "candidate-pair").map(s => s.state) };
}))"""


def test_a_video_call_with_relay_only_ice_goes_through_the_stacks_coturn(front_browser: Browser, stack: Stack) -> None:
    typed: list[str] = []
    alice, bob = person(front_browser, stack, "alice", typed), person(front_browser, stack, "bob", typed)
    url = f"https://{stack.domain}:{stack.ports['https']}"
    try:
        for someone in (alice, bob):
            someone.context.grant_permissions(["camera", "microphone"], origin=url)
            someone.page.add_init_script(RELAY_ONLY)
            someone.open()
            expect(someone.page.get_by_role("button", name="Create account").first).to_be_visible(timeout=90_000)
        alice.sign_up()
        bob.sign_up()
        alice.start_direct(bob.name)
        alice.say("Calling you")
        bob.open_chat(alice.name)
        bob.expect_message("Calling you")

        alice.page.locator(".conv-header").get_by_role("button", name="Video call").click()
        prompt = bob.page.get_by_role("dialog", name="Call")
        expect(prompt).to_contain_text(f"{alice.name} is calling you (video)", timeout=SLOW)
        prompt.get_by_role("button", name="Accept").click()
        for someone in (alice, bob):
            try:
                expect(someone.page.locator(".call-state")).to_have_text("Connected", timeout=60_000)
            except AssertionError as exc:
                reports = {p.name: p.page.evaluate(ICE_REPORT) for p in (alice, bob)}
                turn_log = stack.compose("logs", "--no-color", "--tail", "60", "coturn", check=False).stdout
                raise AssertionError(f"{someone.name}'s call did not connect: {reports}\n{turn_log}") from exc
        turn_ip = stack.turn_ip  # type: ignore[attr-defined]
        for someone in (alice, bob):
            # Media both ways, through the frame encryption, decrypted on each side.
            wait_growing(someone, "frames-encrypted", 20)
            wait_growing(someone, "frames-decrypted", 20)
            video = wait_growing(someone, "bytes-received-video", 1)
            someone.page.wait_for_timeout(1500)
            assert panel_number(someone, "bytes-received-video") > video, f"{someone.name}: video stopped"
            assert panel_number(someone, "frames-failed") == 0
            # Both ends of the path in use are coturn's relayed addresses.
            pair = someone.page.evaluate(SELECTED_PAIR)
            assert pair is not None, f"{someone.name}: no selected candidate pair"
            assert set(pair["types"]) == {"relay"}, pair
            assert (pair["local"], pair["remote"]) == ("relay", "relay"), pair
            assert pair["localAddress"] == turn_ip and pair["remoteAddress"] == turn_ip, pair
            assert pair["bytesReceived"] > 0, pair
        # coturn's own log shows the allocations, made with /v1/calls/turn's REST user names
        # ("expiry:random id") in the stack's realm.
        log = stack.compose("logs", "--no-color", "coturn", check=False).stdout
        allocations = re.findall(
            rf"realm <{re.escape(stack.domain)}> user <(\d+):[^>]+>: incoming packet ALLOCATE processed, success", log
        )
        assert len(allocations) >= 2, log[-3000:]
        assert all(int(expiry) > time.time() for expiry in allocations), allocations
        bob.page.get_by_role("button", name="Hang up").click()
        for someone in (alice, bob):
            expect(someone.page.locator(".call-state")).to_have_text("Call ended", timeout=SLOW)
    finally:
        print("\n".join(LOG[-80:]))
        alice.context.close()
        bob.context.close()
