"""A throwaway certificate authority for the federation tests, made with `cryptography`:
one CA and one leaf per instance (SAN dNSName = the instance's domain, usable as TLS
server and client certificate), written as PEM files the instances read via settings."""

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


@dataclass
class Pki:
    directory: Path
    ca_key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    def cert(self, domain: str) -> Path:
        return self.directory / f"{domain}.pem"

    def key(self, domain: str) -> Path:
        return self.directory / f"{domain}.key"

    def issue(self, domain: str) -> None:
        """A leaf certificate for `domain`, signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(domain))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.cert(domain).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, self.key(domain))

    def settings(self, domain: str) -> dict[str, str]:
        """The TLS settings of the instance `domain` (names as in talkee/settings/base.py)."""
        return {
            "TALKEE_FEDERATION_SCHEME": "https",
            "TALKEE_FEDERATION_TLS_CERT": str(self.cert(domain)),
            "TALKEE_FEDERATION_TLS_KEY": str(self.key(domain)),
            "TALKEE_FEDERATION_TLS_CA": str(self.ca),
        }

    def env(self, domain: str) -> dict[str, str]:
        """The same as environment variables for an instance's processes, mTLS required."""
        return {**self.settings(domain), "TALKEE_FEDERATION_REQUIRE_MTLS": "true"}


def make_pki(directory: Path, name: str, domains: list[str]) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pki = Pki(directory, key, cert)
    pki.ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    for domain in domains:
        pki.issue(domain)
    return pki
