"""TLS to the key server with the real HTTP stack (httpx and ssl) against a local HTTPS realm.

No `http_client` is injected: these tests exercise the client `KeycloakAuth` builds itself, the
one production uses. Without `KEYCLOAK_CA_BUNDLE` a certificate from a private CA is refused
at start-up with a message that names the untrusted certificate and the variable to set; with
it everything works; and no setting or environment variable turns verification off.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakSettings, Principal
from tests.attacks.harness import settings_values
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims
from tests.tls.certs import Authority
from tests.tls.local_server import https_realm


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("pki")
    ca, other = Authority.create("fastapi_kc test CA"), Authority.create("another CA")
    cert, key = ca.issue(directory, dns=("localhost",), ips=("127.0.0.1",))
    localhost_only, localhost_only_key = ca.issue(directory, dns=("localhost",), ips=())
    expired, expired_key = ca.issue(directory, dns=("localhost",), ips=("127.0.0.1",), expired=True)
    empty = directory / "empty.pem"
    empty.write_bytes(b"")
    garbage = directory / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    return {
        "ca": ca.write(directory), "other_ca": other.write(directory), "cert": cert, "key": key,
        "localhost_only": localhost_only, "localhost_only_key": localhost_only_key,
        "expired": expired, "expired_key": expired_key, "empty": empty, "garbage": garbage,
    }  # fmt: skip


@pytest.fixture(scope="module")
def realm(pki: dict[str, Path], signing_key: SigningKey) -> Iterator[int]:
    with https_realm(FakeKeycloak(keys=[signing_key]), pki["cert"], pki["key"]) as port:
        yield port


def settings(port: int, host: str = "localhost", **overrides: Any) -> KeycloakSettings:
    return KeycloakSettings(**settings_values(internal_url=f"https://{host}:{port}", **overrides))


def start(settings: KeycloakSettings, token: str | None = None) -> Principal | ConfigurationError:
    async def main() -> Principal | ConfigurationError:
        try:
            async with KeycloakAuth(settings) as auth:
                return await auth.verify(token) if token else Principal({"sub": "started"})
        except ConfigurationError as exc:
            return exc

    return asyncio.run(main())


def test_with_the_ca_bundle_a_real_token_verifies(realm: int, pki: dict[str, Path], signing_key: SigningKey) -> None:
    result = start(settings(realm, ca_bundle=pki["ca"]), mint(user_claims(), signing_key))
    assert isinstance(result, Principal)
    assert result.username == "mario"


def untrusted(result: Principal | ConfigurationError, port: int, host: str = "localhost") -> str:
    assert isinstance(result, ConfigurationError), result
    message = str(result)
    assert f"https://{host}:{port}/realms/demo/" in message  # the URL
    assert "the TLS certificate is not trusted" in message  # the problem
    assert "KEYCLOAK_CA_BUNDLE" in message  # the fix
    return message


def test_without_the_ca_bundle_start_up_fails_naming_the_untrusted_certificate(realm: int) -> None:
    message = untrusted(start(settings(realm)), realm)
    assert re.search(r"certificate verify failed|self.signed|unable to get local issuer", message), message
    assert "never switched off" in message


def test_a_bundle_of_another_ca_does_not_trust_the_certificate(realm: int, pki: dict[str, Path]) -> None:
    untrusted(start(settings(realm, ca_bundle=pki["other_ca"])), realm)


def test_a_certificate_for_another_host_name_is_refused(pki: dict[str, Path], signing_key: SigningKey) -> None:
    # Signed by the trusted CA, but for `localhost` only: reached as 127.0.0.1 it must fail.
    fake = FakeKeycloak(keys=[signing_key])
    with https_realm(fake, pki["localhost_only"], pki["localhost_only_key"]) as port:
        result = start(settings(port, host="127.0.0.1", ca_bundle=pki["ca"]))
        assert isinstance(result, ConfigurationError)
        assert re.search(r"(?i)hostname mismatch|doesn't match|not valid for", str(result)), str(result)
        assert isinstance(start(settings(port, host="localhost", ca_bundle=pki["ca"])), Principal)


def test_an_expired_certificate_is_refused(pki: dict[str, Path], signing_key: SigningKey) -> None:
    fake = FakeKeycloak(keys=[signing_key])
    with https_realm(fake, pki["expired"], pki["expired_key"]) as port:
        result = start(settings(port, ca_bundle=pki["ca"]))
        assert isinstance(result, ConfigurationError)
        assert "expired" in str(result)


@pytest.mark.parametrize("bundle", ["empty", "garbage"])
def test_a_ca_bundle_that_is_not_pem_certificates_fails_naming_the_variable(
    realm: int, pki: dict[str, Path], bundle: str
) -> None:
    with pytest.raises(ConfigurationError, match="KEYCLOAK_CA_BUNDLE"):
        start_or_raise(settings(realm, ca_bundle=pki[bundle]))


def start_or_raise(settings: KeycloakSettings) -> None:
    async def main() -> None:
        async with KeycloakAuth(settings):
            pass

    asyncio.run(main())


def test_a_ca_bundle_that_does_not_exist_fails_when_the_settings_are_built(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="KEYCLOAK_CA_BUNDLE"):
        KeycloakSettings(**settings_values(ca_bundle=tmp_path / "missing.pem"))


# --- there is no way to switch verification off -----------------------------------------------

SWITCHES = ("verify", "insecure", "ssl", "tls", "skip", "check", "disable", "unsafe", "trust")


def test_no_setting_can_turn_verification_off() -> None:
    # The one TLS setting adds trust (a CA bundle); none can remove the check.
    tls_fields = {name for name in KeycloakSettings.model_fields if any(word in name for word in SWITCHES)}
    assert tls_fields == set()
    assert "ca_bundle" in KeycloakSettings.model_fields


@pytest.mark.parametrize(
    "argument", ["verify", "verify_ssl", "ssl_verify", "tls_verify", "insecure", "skip_tls_verify", "verify_tls"]
)
def test_a_verify_false_argument_is_rejected(argument: str) -> None:
    with pytest.raises(ConfigurationError, match="not a setting"):
        KeycloakSettings(**settings_values(**{argument: False}))


ENVIRONMENT = {
    "KEYCLOAK_VERIFY": "false",
    "KEYCLOAK_VERIFY_SSL": "false",
    "KEYCLOAK_SSL_VERIFY": "0",
    "KEYCLOAK_TLS_VERIFY": "false",
    "KEYCLOAK_INSECURE": "true",
    "KEYCLOAK_SKIP_TLS_VERIFY": "1",
    "PYTHONHTTPSVERIFY": "0",
    "CURL_CA_BUNDLE": "",
    "REQUESTS_CA_BUNDLE": "",
    "HTTPX_SSL_VERIFY": "0",
}


@pytest.mark.parametrize("name", list(ENVIRONMENT))
def test_a_verify_off_environment_variable_changes_nothing(
    realm: int, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # Observed: unknown KEYCLOAK_* variables are ignored (not rejected); either way, never obeyed.
    environment = {f"KEYCLOAK_{k.upper()}": str(v) for k, v in settings_values().items()}
    environment["KEYCLOAK_INTERNAL_URL"] = f"https://localhost:{realm}"
    for key, value in {**environment, name: ENVIRONMENT[name]}.items():
        monkeypatch.setenv(key, value)
    untrusted(start(KeycloakSettings()), realm)
