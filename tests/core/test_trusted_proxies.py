"""Behind a front (the Docker stack's Caddy), every request reaches the web process from the
front's address. Per-address limits must still count people: a trusted front's
X-Forwarded-For names the client; anyone else's X-Forwarded-For is ignored.

A real daphne process serves the app with TALKEE_TRUSTED_PROXIES=127.0.0.1 and a sign-in limit
of 3 per minute and address; "the front" is a client connecting from 127.0.0.1, a stranger
connects from 127.0.0.2 (both loopback)."""

import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import LiveServer, start_daphne, stop

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def fronted(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[LiveServer]:
    server = start_daphne(
        Path(tmp_path_factory.mktemp("fronted")),
        "fronted",
        {"TALKEE_TRUSTED_PROXIES": "127.0.0.1", "THROTTLE_LOGIN_IP": "3/min"},
    )
    yield server
    stop(server.process)


def challenge(server: LiveServer, *, source: str, forwarded_for: str | None = None) -> int:
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10, source_address=(source, 0))
    headers = {"Content-Type": "application/json"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    try:
        conn.request("POST", "/v1/auth/challenge", json.dumps({"username": "someone"}), headers)
        return conn.getresponse().status
    finally:
        conn.close()


def an_address() -> str:
    """A client address no other run of this test has used (the limits live in Redis)."""
    return "198.51.100." + str(os.urandom(1)[0])


def test_the_front_passes_on_each_clients_address_so_one_client_does_not_lock_out_the_rest(
    fronted: LiveServer,
) -> None:
    guesser, other = an_address(), "203.0.113." + str(os.urandom(1)[0])
    assert [challenge(fronted, source="127.0.0.1", forwarded_for=guesser) for _ in range(4)] == [200, 200, 200, 429]
    # Everyone else behind the same front still gets in.
    assert challenge(fronted, source="127.0.0.1", forwarded_for=other) == 200


def test_a_client_that_is_not_a_trusted_front_cannot_pick_its_address(fronted: LiveServer) -> None:
    # A stranger inventing a new X-Forwarded-For for every try is still one address.
    statuses = [challenge(fronted, source="127.0.0.2", forwarded_for=an_address()) for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
