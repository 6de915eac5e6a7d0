"""Reaching a peer: domain → address, one function for every outgoing federation call
(https with our client certificate and the peer's certificate checked against its domain,
or http on a private network), and the peer's published key at /.well-known/talkee/server.

The address: a static map from settings (tests, private networks); else the federation URL
the domain publishes on its web host (`https://<domain>/.well-known/talkee/server`, so
acme.example can run Talkee on talkee.acme.example:8448), kept an hour; else
<domain>:TALKEE_FEDERATION_PORT. Whoever answers there must still present a certificate for
the domain and sign with its pinned key: the lookup only says where to dial.
"""

import binascii
import http.client
import json
import logging
import ssl
import urllib.parse

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django_guid import get_guid

from apps.core.b64 import unb64
from apps.federation import tls

logger = logging.getLogger("talkee.federation")

WELL_KNOWN_PATH = "/.well-known/talkee/server"
DELEGATION_SECONDS = 3600  # how long a published federation URL is used before asking again
NO_DELEGATION_SECONDS = 600  # how long a domain without one is not asked again
WELL_KNOWN_MAX_BYTES = 64 * 1024


class DiscoveryError(Exception):
    pass


def _host_port(value: str, where: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ImproperlyConfigured(f"{where}: {value} is not host:port")
    return host.strip("[]"), int(port)


def peer_address(domain: str) -> tuple[str, int]:
    mapped = settings.TALKEE_FEDERATION_HOSTS.get(domain)
    if mapped:
        return _host_port(mapped, f"TALKEE_FEDERATION_HOSTS: {domain}")
    return delegated_address(domain) or (domain, settings.TALKEE_FEDERATION_PORT)


def delegated_address(domain: str) -> tuple[str, int] | None:
    """Where `domain` says its federation listener is (cached), None if it says nothing."""
    if not settings.TALKEE_FEDERATION_DELEGATION:
        return None
    key = f"federation-delegation:{domain}"
    cached = cache.get(key)
    if cached is not None:
        return (str(cached[0]), int(cached[1])) if cached else None
    found = _published_address(domain)
    cache.set(key, list(found) if found else [], DELEGATION_SECONDS if found else NO_DELEGATION_SECONDS)
    return found


def _published_address(domain: str) -> tuple[str, int] | None:
    scheme = settings.TALKEE_FEDERATION_WELL_KNOWN_SCHEME
    mapped = settings.TALKEE_FEDERATION_WELL_KNOWN_HOSTS.get(domain)
    host, port = (
        _host_port(mapped, f"TALKEE_FEDERATION_WELL_KNOWN_HOSTS: {domain}")
        if mapped
        else (domain, 443 if scheme == "https" else 80)
    )
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = _PeerConnection(host, port, domain=domain, context=_web_context(), timeout=5)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        connection.request("GET", WELL_KNOWN_PATH, headers={"Host": domain, "Accept": "application/json"})
        response = connection.getresponse()
        raw = response.read(WELL_KNOWN_MAX_BYTES + 1)
        if response.status != 200 or len(raw) > WELL_KNOWN_MAX_BYTES:
            return None
        document = json.loads(raw)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        logger.info("no federation delegation", extra={"domain": domain, "error_type": type(exc).__name__})
        return None
    finally:
        connection.close()
    return _listener_of(domain, document)


def _listener_of(domain: str, document: object) -> tuple[str, int] | None:
    """host:port of the federation URL in a well-known document, if it is one for `domain`."""
    if not isinstance(document, dict) or document.get("domain") != domain:
        return None
    url = document.get("federation_url")
    if not isinstance(url, str):
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != settings.TALKEE_FEDERATION_SCHEME or not parts.hostname:
        return None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _web_context() -> ssl.SSLContext:
    """The web host's certificate: the system's trust store, plus our federation CA (a
    private network's web hosts may use it)."""
    context = ssl.create_default_context()
    if settings.TALKEE_FEDERATION_TLS_CA:
        context.load_verify_locations(settings.TALKEE_FEDERATION_TLS_CA)
    return context


class _PeerConnection(http.client.HTTPSConnection):
    """Dials the peer's address but checks its certificate against the peer's domain (SNI too)."""

    def __init__(self, host: str, port: int, *, domain: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.domain = domain
        self.tls_context = context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self.tls_context.wrap_socket(self.sock, server_hostname=self.domain)


def call(
    domain: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """One server-to-server HTTP exchange; any transport failure is a DiscoveryError."""
    scheme = settings.TALKEE_FEDERATION_SCHEME
    if scheme not in ("http", "https"):
        raise ImproperlyConfigured("TALKEE_FEDERATION_SCHEME must be https (or http on a private network)")
    host, port = peer_address(domain)
    connection: http.client.HTTPConnection | None = None
    try:
        if scheme == "https":
            connection = _PeerConnection(host, port, domain=domain, context=tls.client_context(), timeout=timeout)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        # the peer is addressed by its domain (as in SNI), wherever the map points
        sent = {"Host": f"{domain}:{port}", **(headers or {})}
        request_id = get_guid()
        if request_id:
            sent["X-Request-ID"] = request_id  # the peer's log lines for this call carry our id
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return int(response.status), response.read(settings.TALKEE_FEDERATION_MAX_BODY_BYTES + 1)
    except tls.TlsNotConfigured as exc:
        raise DiscoveryError(str(exc)) from exc
    except (ssl.SSLEOFError, http.client.RemoteDisconnected) as exc:
        if scheme != "https":
            raise DiscoveryError(str(exc)) from exc
        # a listener that refuses our client certificate just closes the connection
        raise DiscoveryError(f"TLS: the peer closed the connection (does it trust our certificate?): {exc}") from exc
    except ssl.SSLError as exc:
        raise DiscoveryError(f"TLS: {exc}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DiscoveryError(str(exc) or type(exc).__name__) from exc
    finally:
        if connection is not None:
            connection.close()


def fetch_server_key(domain: str) -> bytes:
    status, raw = call(domain, "GET", "/.well-known/talkee/server")
    if status != 200:
        raise DiscoveryError(f"discovery answered {status}")
    try:
        document = json.loads(raw)
        if document.get("domain") != domain:
            raise DiscoveryError("the instance calls itself by another name")
        key = unb64(document["ed25519_pub"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise DiscoveryError("malformed discovery document") from exc
    if len(key) != 32:
        raise DiscoveryError("malformed key")
    return key
