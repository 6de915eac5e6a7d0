"""What the /s2s/ views take as the TLS client identity from the ASGI TLS extension: only the
dNSNames of a verified certificate; anything else is no identity (and is refused)."""

import datetime
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apps.federation.tls import client_names
from tests.federation.pki import Pki


def scope(pem: str, error: str | None = None) -> dict[str, object]:
    return {"type": "http", "extensions": {"tls": {"client_cert_chain": [pem], "client_cert_error": error}}}


def test_names_come_from_the_verified_certificate(federation_pki: Pki) -> None:
    pem = federation_pki.cert("b.test").read_text()
    assert client_names(scope(pem)) == ["b.test"]
    assert client_names(scope(pem, error="certificate has expired")) == []
    assert (
        client_names({"type": "http", "extensions": {"tls": {"client_cert_chain": [], "client_cert_error": None}}})
        == []
    )
    assert client_names({"type": "http"}) == [], "no TLS extension: a plain client port"
    assert client_names(None) == [], "no ASGI scope at all (WSGI)"


def test_a_certificate_without_dns_names_names_no_one() -> None:
    """The subject CN is never used: a certificate naming `b.test` only there is no identity."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "b.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    pem = ssl.DER_cert_to_PEM_cert(cert.public_bytes(serialization.Encoding.DER))
    assert client_names(scope(pem)) == []
