"""A real Keycloak serving its realm over HTTPS with a certificate from a CA generated here.

Started only when a `keycloak`-marked test of this package asks for it, and stopped when the
package's tests end. HTTP stays on as well, because the harness's own helpers (readiness,
tokens, admin API) speak plain HTTP; the service under test reaches Keycloak over HTTPS only.
The certificate names `localhost` and nothing else, so `https://127.0.0.1:<port>` serves as
the wrong-host-name case.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from keycloak_dev import KeycloakServer
from keycloak_dev.server import free_port
from tests.tls.certs import Authority


@dataclass(frozen=True)
class HttpsKeycloak:
    server: KeycloakServer
    https_port: int
    ca_bundle: Path
    other_ca_bundle: Path

    @property
    def https_url(self) -> str:
        return f"https://localhost:{self.https_port}"


@pytest.fixture(scope="package")
def https_keycloak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsKeycloak]:
    directory = tmp_path_factory.mktemp("keycloak-tls")
    ca = Authority.create("fastapi_kc test CA")
    certificate, key = ca.issue(directory, dns=("localhost",), ips=())
    other = Authority.create("another CA").write(directory)
    server = KeycloakServer()
    port = free_port()
    server.extra_options = [
        f"--https-port={port}",
        f"--https-certificate-file={certificate}",
        f"--https-certificate-key-file={key}",
        "--http-management-scheme=http",  # the harness polls readiness over plain HTTP
    ]
    server.start()
    try:
        yield HttpsKeycloak(server, port, ca.write(directory), other)
    finally:
        server.close()


@pytest.fixture(autouse=True)
def _no_trust_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx honours SSL_CERT_FILE/SSL_CERT_DIR; a developer's own must not make a test pass.
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
