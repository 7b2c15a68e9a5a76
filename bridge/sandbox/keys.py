"""Throwaway key material for sandbox homeservers: a CA, server certificates, signing keys.

Federation between the sandbox Synapses runs over real TLS with verification on; the
servers trust only this CA (``federation_custom_ca_list``). ``cryptography`` and
``signedjson`` come with Synapse, not with the bridge, so the rest of the sandbox imports
this module lazily.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from signedjson.key import generate_signing_key, write_signing_keys

_VALIDITY = datetime.timedelta(days=7)
# Allow for clock skew between the test host and the moment a certificate is checked.
_BACKDATE = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM private key."""

    cert_pem: bytes
    key_pem: bytes

    def write(self, cert_path: Path, key_path: Path) -> None:
        cert_path.write_bytes(self.cert_pem)
        key_path.write_bytes(self.key_pem)
        key_path.chmod(0o600)


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256 instead of RSA: key generation is ~100x faster and Twisted accepts it.
    return ec.generate_private_key(ec.SECP256R1())


def _pem(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> KeyPair:
    return KeyPair(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _builder(subject: str) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
    )


def make_ca(common_name: str = "bridge sandbox test CA") -> KeyPair:
    """Create a self-signed CA certificate that may sign server certificates."""
    key = _new_key()
    cert = (
        _builder(common_name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _pem(cert, key)


def issue_server_cert(ca: KeyPair, common_name: str, host: str = "127.0.0.1") -> KeyPair:
    """Issue a loopback server certificate signed by ``ca``.

    The SAN holds IP:127.0.0.1 and the server's own loopback address ``host`` because
    Synapse checks IP-literal server names against IP SANs (docs/synapse-notes.md), and
    DNS:localhost for clients that dial by name.
    """
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError("the sandbox CA key must be an EC key made by make_ca()")
    key = _new_key()
    san = x509.SubjectAlternativeName(
        [
            *(x509.IPAddress(ipaddress.ip_address(a)) for a in dict.fromkeys(["127.0.0.1", host])),
            x509.DNSName("localhost"),
        ]
    )
    cert = (
        _builder(common_name)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(san, critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return _pem(cert, key)


def write_signing_key(path: Path) -> None:
    """Write a fresh ed25519 federation signing key in Synapse's file format."""
    with path.open("w") as handle:
        write_signing_keys(handle, [generate_signing_key("a_sbx")])
    path.chmod(0o600)
