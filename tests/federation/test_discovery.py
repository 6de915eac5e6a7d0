"""Where a peer is: a static map entry, else the federation URL its web host publishes at
/.well-known/talkee/server (looked up once an hour, a stand-in web host here), else
<domain>:8448. A document that is not for the domain, or not usable, changes nothing."""

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import override_settings

from apps.federation import discovery


class WebHost:
    """A domain's web host serving one well-known document (or a status), counting asks."""

    def __init__(self) -> None:
        self.document: Any = None
        self.status = 200
        self.asked = 0
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.asked += 1
                body = host.document if isinstance(host.document, bytes) else json.dumps(host.document).encode()
                self.send_response(host.status if self.path == discovery.WELL_KNOWN_PATH else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def web_host() -> Iterator[tuple[WebHost, str]]:
    host = WebHost()
    domain = f"d{uuid.uuid4().hex[:10]}.test"  # fresh: lookups are cached for the domain
    with override_settings(
        TALKEE_FEDERATION_HOSTS={},
        TALKEE_FEDERATION_SCHEME="https",
        TALKEE_FEDERATION_WELL_KNOWN_HOSTS={domain: f"127.0.0.1:{host.port}"},
        TALKEE_FEDERATION_WELL_KNOWN_SCHEME="http",
    ):
        yield host, domain
    host.server.shutdown()


def test_the_published_federation_url_is_dialled_and_kept(web_host: tuple[WebHost, str]) -> None:
    host, domain = web_host
    host.document = {"domain": domain, "federation_url": "https://127.0.0.9:9448/s2s/"}
    assert discovery.peer_address(domain) == ("127.0.0.9", 9448)
    assert discovery.peer_address(domain) == ("127.0.0.9", 9448)
    assert host.asked == 1, "kept, not asked again for every call"


@pytest.mark.parametrize(
    "document",
    [
        "someone else",  # a document naming another domain
        {"federation_url": "http://127.0.0.9:9448/s2s/"},  # not the federation scheme
        {"federation_url": "https://:9448/s2s/"},  # no host
        {"federation_url": "https://127.0.0.9:99999/s2s/"},  # no such port
        {"federation_url": 42},
        b"<html>not json</html>",
    ],
)
def test_an_unusable_document_falls_back_to_the_default_port(web_host: tuple[WebHost, str], document: Any) -> None:
    host, domain = web_host
    if document == "someone else":
        host.document = {"domain": "other.test", "federation_url": "https://127.0.0.9:9448/s2s/"}
    elif isinstance(document, dict):
        host.document = {"domain": domain, **document}
    else:
        host.document = document
    assert discovery.peer_address(domain) == (domain, 8448)
    assert discovery.peer_address(domain) == (domain, 8448)
    assert host.asked == 1, "a domain without a usable document is not asked every time either"


def test_no_document_and_no_web_host_fall_back_too(web_host: tuple[WebHost, str]) -> None:
    host, domain = web_host
    host.status, host.document = 404, {}
    assert discovery.peer_address(domain) == (domain, 8448)
    with override_settings(TALKEE_FEDERATION_WELL_KNOWN_HOSTS={}):
        unreachable = f"nowhere-{uuid.uuid4().hex[:8]}.invalid"
        assert discovery.peer_address(unreachable) == (unreachable, 8448)


def test_a_static_entry_wins_and_delegation_can_be_turned_off(web_host: tuple[WebHost, str]) -> None:
    host, domain = web_host
    host.document = {"domain": domain, "federation_url": "https://127.0.0.9:9448/s2s/"}
    with override_settings(TALKEE_FEDERATION_HOSTS={domain: "127.0.0.5:7448"}):
        assert discovery.peer_address(domain) == ("127.0.0.5", 7448)
    with override_settings(TALKEE_FEDERATION_DELEGATION=False):
        assert discovery.peer_address(domain) == (domain, 8448)
    assert host.asked == 0
