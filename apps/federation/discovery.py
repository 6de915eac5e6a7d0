"""Reaching a peer: domain → address (a static map from settings for tests and private
networks, else <domain>:TALKEE_FEDERATION_PORT), one function for every outgoing
federation call (https with our client certificate and the peer's certificate checked
against its domain, or http on a private network), and the peer's published key at
/.well-known/talkee/server."""

import base64
import binascii
import http.client
import json
import ssl

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.federation import tls


class DiscoveryError(Exception):
    pass


def peer_address(domain: str) -> tuple[str, int]:
    mapped = settings.TALKEE_FEDERATION_HOSTS.get(domain)
    if not mapped:
        return domain, settings.TALKEE_FEDERATION_PORT
    host, _, port = mapped.rpartition(":")
    if not host or not port.isdigit():
        raise ImproperlyConfigured(f"TALKEE_FEDERATION_HOSTS: {domain}={mapped} is not host:port")
    return host.strip("[]"), int(port)


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
        connection.request(method, path, body=body, headers={"Host": f"{domain}:{port}", **(headers or {})})
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
        key = base64.b64decode(document["ed25519_pub"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise DiscoveryError("malformed discovery document") from exc
    if len(key) != 32:
        raise DiscoveryError("malformed key")
    return key
