"""A real Keycloak for the doctor's tests, serving HTTP and HTTPS (a certificate from a test CA).

The integration harness's Keycloak speaks HTTP only; the doctor must also be shown against an
untrusted and a trusted certificate, so this package starts its own instance of the same
`keycloak_dev` server with HTTPS options added. It is package-scoped: stopped when the doctor's
tests end, before the integration tests start theirs. Started only when a test asks for it.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keycloak_dev import KeycloakServer
from keycloak_dev.server import free_port


@dataclass(frozen=True)
class TlsKeycloak:
    server: KeycloakServer
    https_port: int
    ca_bundle: Path

    @property
    def https_url(self) -> str:
        """The HTTPS back channel; the certificate names localhost and 127.0.0.1."""
        return f"https://localhost:{self.https_port}"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signs for localhost and 127.0.0.1: (ca, cert, key) PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("doctor test CA")).issuer_name(_name("doctor test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture(scope="package")
def tls_keycloak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsKeycloak]:
    ca, cert, key = make_certificates(tmp_path_factory.mktemp("tls"))
    server = KeycloakServer()
    https_port = free_port()
    server.extra_options = [
        f"--https-port={https_port}",
        f"--https-certificate-file={cert}",
        f"--https-certificate-key-file={key}",
        # With HTTPS configured the management interface would inherit it, and the harness polls
        # its readiness over plain http.
        "--http-management-scheme=http",
    ]
    server.start()
    try:
        yield TlsKeycloak(server, https_port, ca)
    finally:
        server.close()


@pytest.fixture
def keycloak_env(tls_keycloak: TlsKeycloak, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The service's KEYCLOAK_* environment for the demo realm; tests change single variables."""
    values = {
        "KEYCLOAK_PUBLIC_URL": tls_keycloak.server.public_url,
        "KEYCLOAK_INTERNAL_URL": tls_keycloak.server.internal_url,
        "KEYCLOAK_REALM": "demo",
        "KEYCLOAK_AUDIENCE": "api",
        "KEYCLOAK_CLIENT_ID": "shop-api",
        "KEYCLOAK_CLIENT_SECRET": "shop-api-secret",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values
