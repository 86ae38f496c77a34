"""HTTPS beyond loopback: browsers give the microphone only to secure origins, and a phone on
the home network reaches the server by an address that is not loopback.

The certificate is TLS_CERT/TLS_KEY when given; otherwise a self-signed one made once into
DATA_DIR/tls for the names and addresses the server is reached by, and kept (its fingerprint,
checked once on the phone, stays the same) until it expires.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from assistant.config import Settings
from assistant.server.hosts import server_names

# Apple's platforms refuse server certificates valid for longer than 398 days.
VALID_DAYS = 397


@dataclass(frozen=True)
class ServerCertificate:
    cert_file: Path
    key_file: Path
    certificate: x509.Certificate
    made: bool  # made now (not given, nor found from an earlier start)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate, as browsers show it: "AB:CD:…"."""
        return self.certificate.fingerprint(hashes.SHA256()).hex(":").upper()

    @property
    def spki_sha256(self) -> str:
        """Base64 SHA-256 of the public key (what Chromium's
        --ignore-certificate-errors-spki-list takes)."""
        der = self.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        digest = hashes.Hash(hashes.SHA256())
        digest.update(der)
        return base64.b64encode(digest.finalize()).decode()

    @property
    def names(self) -> list[str]:
        """The names and addresses the certificate is for."""
        try:
            san = self.certificate.extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            ).value
        except x509.ExtensionNotFound:
            return []
        addresses = [str(address) for address in san.get_values_for_type(x509.IPAddress)]
        return [*san.get_values_for_type(x509.DNSName), *addresses]


def server_certificate(settings: Settings, *, now: datetime | None = None) -> ServerCertificate:
    """The given certificate, or the self-signed one in DATA_DIR/tls (made if missing or
    expired)."""
    if settings.tls_cert is not None and settings.tls_key is not None:
        return ServerCertificate(
            settings.tls_cert, settings.tls_key, _load(settings.tls_cert), made=False
        )
    now = now or datetime.now(UTC)
    directory = settings.data_dir / "tls"
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    if cert_file.exists() and key_file.exists():
        certificate = _load(cert_file)
        if certificate.not_valid_after_utc > now + timedelta(days=1):
            return ServerCertificate(cert_file, key_file, certificate, made=False)
    names = server_names(settings) or ["localhost"]
    certificate = make_self_signed(names, cert_file, key_file, now=now)
    return ServerCertificate(cert_file, key_file, certificate, made=True)


def make_self_signed(
    names: list[str], cert_file: Path, key_file: Path, *, now: datetime
) -> x509.Certificate:
    """A certificate for `names` (host names and IP addresses), signed by its own key, written
    as PEM; the key is readable by its owner only."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Voice assistant (self-signed)"),
        ]
    )
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file.parent.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(key_file, key_pem, mode=0o600)
    _write(cert_file, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return certificate


def _load(cert_file: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert_file.read_bytes())


def _write(path: Path, data: bytes, *, mode: int) -> None:
    # Written aside and renamed, so a start cut short never leaves half a key behind.
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(partial, path)
