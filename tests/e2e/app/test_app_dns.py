"""The last rung of the transport ladder in the browser: Bob's network lets neither the
WebSocket nor HTTPS /v1/ through, only DNS-over-HTTPS to /dns-query. The app says
"Connected over the DoH tunnel" (only once the tunnel answered) and the conversation goes on
both ways through the sealed tunnel."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.app.conftest import SLOW, assert_private, pair, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_blocked_socket_and_https_fall_back_to_the_dns_tunnel(people: Any) -> None:
    alice, bob = pair(people)
    expect(bob.banner()).to_have_text("Connected")
    # From here on Bob's network filters the socket and the API; DoH still gets out.
    blocked = True
    bob.context.route_web_socket(re.compile(r"/v1/ws"), lambda ws: ws.close() if blocked else ws.connect_to_server())
    api_tried: list[str] = []

    def refuse_api(route: Any) -> None:
        api_tried.append(route.request.url)
        if blocked:
            route.abort()
        else:
            route.continue_()

    bob.context.route(re.compile(r"/v1/"), refuse_api)
    doh_bodies: list[bytes] = []
    bob.page.on(
        "request",
        lambda request: doh_bodies.append(request.post_data_buffer or b"") if "/dns-query" in request.url else None,
    )
    # The network drops and comes back (the open socket goes with it).
    bob.context.set_offline(True)
    expect(bob.banner()).to_have_text(re.compile("Offline"), timeout=SLOW)
    bob.context.set_offline(False)
    expect(bob.banner()).to_have_text("Connected over the DoH tunnel", timeout=SLOW)
    assert any("/v1/sync" in url for url in api_tried), "HTTPS long-poll was tried before the tunnel"

    bob.say("Sent through the DNS tunnel")
    alice.expect_message("Sent through the DNS tunnel")
    alice.say("Answer while Bob is on DNS")
    bob.expect_message("Answer while Bob is on DNS")
    expect(bob.message("Sent through the DNS tunnel").get_by_role("img", name="Queued for delivery")).to_have_count(0)
    expect(bob.banner()).to_have_text("Connected over the DoH tunnel")
    # Bob has the chat open: his read receipt (an encrypted message) goes through the tunnel too.
    expect(alice.message("Answer while Bob is on DNS").get_by_role("img", name="Read")).to_be_visible(timeout=SLOW)
    shot(bob.page, "30-dns-fallback-bob")
    shot(alice.page, "31-dns-fallback-alice")
    assert doh_bodies, "the tunnel went over /dns-query"
    # What a resolver on the way saw is ciphertext only: not the text, not the token.
    seen = b"".join(doh_bodies).lower()
    for text in ("Sent through the DNS tunnel", "Answer while Bob is on DNS"):
        assert text.lower().encode() not in seen
    remembered = bob.page.evaluate("() => Object.keys(localStorage)")
    assert "talkee.tunnel" in remembered  # the tunnel's key and zone, for when the well-known URL is blocked too

    # The filter goes away: the app climbs back to the socket by itself (retried every 30 s).
    blocked = False
    expect(bob.banner()).to_have_text("Connected", timeout=60_000)
    alice.say("Back on the socket")
    bob.expect_message("Back on the socket")
    expect(bob.message("Answer while Bob is on DNS")).to_have_count(1)  # nothing twice
    assert_private(alice.server, alice.typed)
