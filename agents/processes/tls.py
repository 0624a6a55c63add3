"""TLS for the secured local broker: a local CA and a loopback broker certificate, made once under var/secrets/tls/.

Clients trust the CA (librdkafka `ssl.ca.location`, aiokafka's `ssl_context`) and check the broker's name against
the certificate (127.0.0.1 and localhost), so a process that merely listens on the port cannot pose as the broker.
The CA's private key never leaves var/secrets/tls/ (0600); the broker reads its key and chain from one PEM file.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALID_DAYS = 3650
BROKER_VALID_DAYS = 825  # the longest validity browsers and most TLS stacks still accept for a leaf


@dataclass(frozen=True)
class TlsFiles:
    """Where the local CA and the broker's key and certificate chain live."""

    directory: Path

    @property
    def ca_certificate(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def broker_keystore(self) -> Path:
        """PKCS#8 key, then the broker certificate and the CA certificate: Kafka's PEM keystore format."""
        return self.directory / "broker.pem"

    def complete(self) -> bool:
        return all(path.exists() for path in (self.ca_certificate, self.ca_key, self.broker_keystore))


def write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 and write `data`; an existing file is never overwritten (O_EXCL)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sluice local"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ensure_tls(directory: Path) -> TlsFiles:
    """The local CA and broker certificate, generated on first use; later calls change nothing.

    A half-written set (a crash between files) is regenerated whole into a fresh directory and moved in place, so
    the CA that signed the broker certificate is always the one clients trust.
    """
    files = TlsFiles(directory)
    if files.complete():
        return files
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(f"{directory.name}.staging-{os.getpid()}")
    staging.mkdir(mode=0o700)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Sluice local CA"))
        .issuer_name(_name("Sluice local CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_VALID_DAYS))
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    broker_key = ec.generate_private_key(ec.SECP256R1())
    broker_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(broker_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=BROKER_VALID_DAYS))
        # Clients connect to 127.0.0.1 (the advertised listener) and check it against these names.
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # The broker is a server to clients and a client to itself (inter-broker listener).
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    staged = TlsFiles(staging)
    write_private(staged.ca_key, _pem_key(ca_key))
    write_private(staged.ca_certificate, ca_cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(staged.ca_certificate, 0o644)  # public: every client reads it
    write_private(
        staged.broker_keystore,
        _pem_key(broker_key)
        + broker_cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM),
    )
    if directory.exists():  # an incomplete earlier attempt: replaced whole
        for leftover in directory.iterdir():
            leftover.unlink()
        directory.rmdir()
    staging.rename(directory)
    return files
