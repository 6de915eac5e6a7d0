"""Installable and offline: the manifest and the service worker are served at the
root (scope `/`), the worker caches the app shell, and with no network the app
opens, unlocks and shows the history kept in the encrypted vault."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import LiveServer
from tests.e2e.app.conftest import PASSWORD, SLOW, pair, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def fetch(server: LiveServer, path: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(server.url + path, timeout=10) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


def test_manifest_and_service_worker_are_served_at_the_root(app_server: LiveServer) -> None:
    status, headers, body = fetch(app_server, "/manifest.webmanifest")
    assert status == 200
    assert headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(body)
    assert manifest["name"] == "Talkee"
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"].startswith("#")
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        status, headers, png = fetch(app_server, icon["src"])
        assert status == 200 and png.startswith(b"\x89PNG")

    status, headers, sw = fetch(app_server, "/sw.js")
    assert status == 200
    assert "javascript" in headers["content-type"]
    assert headers["cache-control"] == "no-cache"
    assert b"/app/index.html" in sw  # the shell is precached

    status, headers, html = fetch(app_server, "/")
    assert b'rel="manifest" href="/manifest.webmanifest"' in html
    assert b'name="theme-color"' in html


def test_app_opens_offline_with_history_from_the_vault(people: Any) -> None:
    alice, bob = pair(people)
    bob.say("Cached for the tunnel")
    alice.expect_message("Cached for the tunnel")
    page = alice.page
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=SLOW)
    scope = page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.scope)")
    assert scope == alice.server.url + "/"

    alice.context.set_offline(True)
    page.reload()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Unlock").click()
    expect(alice.banner()).to_have_text("Offline — new messages will be queued", timeout=SLOW)
    alice.open_chat(bob.name)
    alice.expect_message("Hello from Alice")
    alice.expect_message("Cached for the tunnel")
    shot(page, "13-offline-shell-history")
    alice.context.set_offline(False)
    expect(alice.banner()).to_have_text("Connected", timeout=SLOW)
