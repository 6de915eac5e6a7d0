"""Mutual TLS between instances: the contexts both sides use and the verified peer identity.

Each instance has one certificate whose SAN dNSName is its TALKEE_DOMAIN. It presents it
as the server of its s2s listener (`python -m talkee.server --s2s`) and as the client when
it calls a peer; both ends verify the other against TALKEE_FEDERATION_TLS_CA (the system
store when that is empty), TLS 1.3 only. The listener hands the verified client
certificate to the app in the ASGI TLS extension (`scope["extensions"]["tls"]`); nothing
else (no header) can claim an identity.
"""

import functools
import ssl
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from django.conf import settings


class TlsNotConfigured(Exception):
    pass


def _check_configured() -> tuple[str, str, str]:
    cert, key, ca = (
        settings.TALKEE_FEDERATION_TLS_CERT,
        settings.TALKEE_FEDERATION_TLS_KEY,
        settings.TALKEE_FEDERATION_TLS_CA,
    )
    if not cert:
        raise TlsNotConfigured("no federation certificate configured (TALKEE_FEDERATION_TLS_CERT)")
    return cert, key, ca


def client_context() -> ssl.SSLContext:
    """For calls to peers: our certificate as the client's; the peer's checked by name."""
    return _client_context(*_check_configured())


@functools.lru_cache(maxsize=4)
def _client_context(cert: str, key: str, ca: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key or None)
    return context


def server_context() -> ssl.SSLContext:
    """For the s2s listener: only a handshake with a verified client certificate completes."""
    cert, key, ca = _check_configured()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca or None)
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key or None)
    return context


_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def asgi_tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The ASGI TLS extension for one verified connection (the listener puts it in scope)."""
    der = ssl_object.getpeercert(binary_form=True)
    chain: list[str] = []
    name = None
    if der:
        cert = x509.load_der_x509_certificate(der)
        chain = [ssl.DER_cert_to_PEM_cert(der)]
        name = cert.subject.rfc4514_string()
    cipher = ssl_object.cipher()
    suites = {c["name"]: int(c["id"]) & 0xFFFF for c in ssl_object.context.get_ciphers()}
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        # the handshake required a certificate the CA bundle verifies, so no error here
        "client_cert_error": None if der else "no client certificate",
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": suites.get(cipher[0]) if cipher else None,
    }


def client_names(scope: Mapping[str, Any] | None) -> list[str]:
    """The dNSNames of the verified TLS client certificate of this request ([] without one)."""
    tls = ((scope or {}).get("extensions") or {}).get("tls")
    if not isinstance(tls, Mapping) or tls.get("client_cert_error") is not None:
        return []
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return []
    cert = x509.load_pem_x509_certificate(str(chain[0]).encode("ascii"))
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in san.get_values_for_type(x509.DNSName)]
