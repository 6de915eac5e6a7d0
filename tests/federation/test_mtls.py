"""Mutual TLS between instances, against this instance's real s2s listener (127.0.0.2) and
its client port: only a handshake with a client certificate from the configured CA reaches
the app, a peer's server certificate must come from that CA and name the peer's domain,
and no request off the s2s listener can claim a server identity."""

import http.client
import json
import socket
import ssl
from pathlib import Path

import pytest
from django.test import override_settings

from apps.federation import discovery
from apps.federation.instance_key import instance_signing_key
from apps.federation.models import InboxEnvelope, Peer
from apps.federation.services import ENVELOPES_PATH
from apps.federation.signing import sign_request
from tests.conftest import LiveServer
from tests.federation.conftest import S2sListener
from tests.federation.pki import Pki, make_pki

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

A = "localhost"


def envelope_batch(txn_id: str) -> tuple[bytes, dict[str, str]]:
    """A batch correctly signed by this instance's key, as A's outbox would send it."""
    body = json.dumps({"envelopes": [{"txn_id": txn_id, "kind": "ping", "body": {"n": 1}}]}).encode()
    headers = sign_request("POST", ENVELOPES_PATH, A, body)
    headers["Content-Type"] = "application/json"
    return body, headers


def answer(listener: S2sListener, context: ssl.SSLContext) -> bytes:
    """What the listener answers a GET over TLS with this context (b"" when it hangs up)."""
    try:
        with socket.create_connection((listener.host, listener.port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=A) as conn:
                conn.sendall(b"GET /.well-known/talkee/server HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                return conn.recv(65536)
    except (ssl.SSLEOFError, ConnectionResetError):
        return b""


def client_context(pki: Pki, cert_domain: str | None) -> ssl.SSLContext:
    """Trusts the test CA; shows `cert_domain`'s certificate from `pki` (or none)."""
    context = ssl.create_default_context(cafile=pki.ca)
    if cert_domain is not None:
        context.load_cert_chain(pki.cert(cert_domain), pki.key(cert_domain))
    return context


def test_a_peer_with_a_certificate_from_the_ca_is_served(instance_a_s2s: S2sListener, federation_pki: Pki) -> None:
    """The positive case the refusals below are measured against (here as peer b.test)."""
    with override_settings(TALKEE_FEDERATION_HOSTS={A: instance_a_s2s.address}, **federation_pki.settings("b.test")):
        assert discovery.fetch_server_key(A) == bytes(instance_signing_key().verify_key)
        status, raw = discovery.call(A, "GET", "/v1/chats")
    # the client API is not served on the s2s listener
    assert status == 404
    assert json.loads(raw)["error"]["code"] == "not_found"


def test_no_client_certificate_is_refused_in_the_handshake(instance_a_s2s: S2sListener, federation_pki: Pki) -> None:
    assert answer(instance_a_s2s, client_context(federation_pki, "b.test")).startswith(b"HTTP/1.1 200 ")
    assert answer(instance_a_s2s, client_context(federation_pki, None)) == b"", "no HTTP answer at all"
    # and our own side refuses to call a peer without a certificate of its own
    with override_settings(
        TALKEE_FEDERATION_HOSTS={A: instance_a_s2s.address},
        **{**federation_pki.settings("b.test"), "TALKEE_FEDERATION_TLS_CERT": ""},
    ):
        with pytest.raises(discovery.DiscoveryError, match="no federation certificate"):
            discovery.fetch_server_key(A)


def test_client_certificate_from_another_ca_is_refused(
    instance_a_s2s: S2sListener, federation_pki: Pki, tmp_path: Path
) -> None:
    rogue = make_pki(tmp_path / "rogue", "Rogue CA", ["b.test"])
    rogue_context = client_context(federation_pki, None)
    rogue_context.load_cert_chain(rogue.cert("b.test"), rogue.key("b.test"))
    assert answer(instance_a_s2s, rogue_context) == b"", "no HTTP answer at all"
    # the same through the sender's code path, with a signed batch: refused, nothing stored
    body, headers = envelope_batch("txn-rogueca01")
    settings = {
        **federation_pki.settings("b.test"),
        "TALKEE_FEDERATION_TLS_CERT": str(rogue.cert("b.test")),
        "TALKEE_FEDERATION_TLS_KEY": str(rogue.key("b.test")),
    }
    with override_settings(TALKEE_FEDERATION_HOSTS={A: instance_a_s2s.address}, **settings):
        with pytest.raises(discovery.DiscoveryError, match="the peer closed the connection"):
            discovery.call(A, "POST", ENVELOPES_PATH, body=body, headers=headers)
    assert not InboxEnvelope.objects.exists()


def test_the_peer_server_certificate_must_come_from_the_ca_and_name_the_peer(
    instance_a_s2s: S2sListener, federation_pki: Pki, tmp_path: Path
) -> None:
    rogue = make_pki(tmp_path / "rogue", "Rogue CA", [])
    # trusting only another CA: A's certificate does not verify
    with override_settings(
        TALKEE_FEDERATION_HOSTS={A: instance_a_s2s.address},
        **{**federation_pki.settings("b.test"), "TALKEE_FEDERATION_TLS_CA": str(rogue.ca)},
    ):
        with pytest.raises(discovery.DiscoveryError, match="certificate verify failed"):
            discovery.fetch_server_key(A)
    # a listener reached as c.test that presents A's certificate (for `localhost`) is not c.test
    with override_settings(
        TALKEE_FEDERATION_HOSTS={"c.test": instance_a_s2s.address}, **federation_pki.settings("b.test")
    ):
        with pytest.raises(discovery.DiscoveryError, match="Hostname mismatch"):
            discovery.fetch_server_key("c.test")
    assert not Peer.objects.exists()


def test_plain_http_to_the_s2s_listener_is_refused(instance_a_s2s: S2sListener) -> None:
    body, headers = envelope_batch("txn-plainhttp")
    connection = http.client.HTTPConnection(instance_a_s2s.host, instance_a_s2s.port, timeout=10)
    try:
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            connection.request("POST", ENVELOPES_PATH, body=body, headers=headers)
            connection.getresponse()
    finally:
        connection.close()
    assert not InboxEnvelope.objects.exists()


def test_the_client_port_cannot_claim_a_server_identity(live_server_daphne: LiveServer) -> None:
    """A correctly signed request on the public port, with the headers a TLS-terminating
    proxy would use for a client certificate: refused, mutual TLS is required."""
    body, headers = envelope_batch("txn-clientport")
    headers.update({"X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-S-DN": "CN=localhost", "X-Client-Cert": "x"})
    address = live_server_daphne.url.removeprefix("http://")
    with override_settings(TALKEE_FEDERATION_HOSTS={A: address}, TALKEE_FEDERATION_SCHEME="http"):
        status, raw = discovery.call(A, "POST", ENVELOPES_PATH, body=body, headers=headers)
    assert status == 401
    assert json.loads(raw)["error"]["code"] == "mtls_required"
    assert not InboxEnvelope.objects.exists()
