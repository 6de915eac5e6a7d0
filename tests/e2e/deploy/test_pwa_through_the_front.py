"""The PWA from Talkee's image, through the compose stack's TLS front, in Debian's Chromium:
two people sign up, talk, send a file and reload over https — the browser trusts only the
stack's test certificate (by its public key) and resolves the test domain to loopback.

The stack is docker/compose.yaml under a real Docker engine (tests/deploy/dockerstack.py);
it lives here, not in tests/deploy, because Playwright's sync API needs the second pytest run.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, Playwright, expect

from tests.deploy.dockerstack import Stack, ensure_engine, ensure_images
from tests.e2e.app.conftest import PASSWORD, SLOW, Person
from tests.e2e.conftest import CHROMIUM_ARGS

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
    try:
        the_stack.up()
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
            f"--host-resolver-rules=MAP {stack.domain} 127.0.0.1",
            f"--ignore-certificate-errors-spki-list={pin}",
        ],
    )
    yield browser
    browser.close()


def person(browser: Browser, stack: Stack, name: str, typed: list[str]) -> Person:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(SLOW)
    page.on("console", lambda m: LOG.append(f"[{name}] {m.type}: {m.text}"))
    page.on("pageerror", lambda e: LOG.append(f"[{name}] pageerror: {e}"))
    page.on("requestfailed", lambda r: LOG.append(f"[{name}] failed {r.url} {r.failure}"))
    url = f"https://{stack.domain}:{stack.ports['https']}"
    return Person(f"{name}{os.urandom(3).hex()}", context, page, Front(url), typed)  # type: ignore[arg-type]


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
