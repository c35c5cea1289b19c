"""`fastapi-kc doctor` against a real Keycloak (26, from `keycloak_dev`): each failure of the field notes.

Each test runs the command as a user would (settings from KEYCLOAK_* variables, the default HTTP
client with real DNS, sockets and TLS) and asserts the exit code and that the output names the
cause and the fix.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakSettings
from keycloak_dev.server import free_port
from tests.doctor.conftest import TlsKeycloak
from tests.doctor.support import cli

pytestmark = pytest.mark.keycloak


def token_of(tls_keycloak: TlsKeycloak, client_id: str, secret: str) -> str:
    return str(tls_keycloak.server.token(client_id, client_secret=secret)["access_token"])


@contextmanager
def client_changed(tls_keycloak: TlsKeycloak, client_id: str, **changes: Any) -> Iterator[None]:
    """Change a client of the demo realm through the admin API for one test, then restore it."""
    server = tls_keycloak.server
    [client] = server.admin("GET", f"demo/clients?clientId={client_id}")
    server.admin("PUT", f"demo/clients/{client['id']}", {**client, **changes})
    try:
        yield
    finally:
        server.admin("PUT", f"demo/clients/{client['id']}", client)


def test_a_correct_set_up_passes_every_check_including_a_service_token(keycloak_env) -> None:
    code, output = cli(["doctor", "--client-credentials"])
    assert code == 0, output
    assert "[PASS] issuer:" in output and "[PASS] service_token.aud: aud accepted" in output
    assert "[PASS] clock: clocks agree within the leeway" in output
    assert "[INFO] service_token.caller: service account of client 'shop-api'" in output


def test_a_wrong_realm_names_the_realm_and_the_auth_prefix(keycloak_env, monkeypatch) -> None:
    monkeypatch.setenv("KEYCLOAK_REALM", "Demo")
    code, output = cli(["doctor"])
    assert code == 1
    assert "[FAIL] discovery: the discovery document was not found: realm 'Demo' does not exist" in output
    assert "realm names are case-sensitive" in output and "KEYCLOAK_AUTH_PATH=/auth" in output


def test_a_wrong_public_url_names_both_issuers_and_both_fixes(keycloak_env, monkeypatch, tls_keycloak) -> None:
    monkeypatch.setenv("KEYCLOAK_PUBLIC_URL", tls_keycloak.server.internal_url)
    code, output = cli(["doctor"])
    assert code == 1
    assert f"tokens would carry iss='{tls_keycloak.server.public_url}/realms/demo'" in output
    assert f"expects iss='{tls_keycloak.server.internal_url}/realms/demo'" in output
    assert "set KEYCLOAK_PUBLIC_URL" in output and "(KC_HOSTNAME)" in output


def test_the_issuer_mismatch_doctor_prints_is_keycloak_auths_start_up_error(
    keycloak_env, monkeypatch, tls_keycloak
) -> None:
    monkeypatch.setenv("KEYCLOAK_PUBLIC_URL", tls_keycloak.server.internal_url)

    async def start() -> None:
        async with KeycloakAuth(KeycloakSettings()):
            pass

    with pytest.raises(ConfigurationError) as info:
        asyncio.run(start())
    _, output = cli(["doctor"])
    assert f"[FAIL] issuer: {str(info.value).removeprefix('Keycloak start-up check failed: ')}\n" in output


def test_an_auth_prefix_keycloak_17_does_not_have_is_found_and_named(keycloak_env, monkeypatch) -> None:
    monkeypatch.setenv("KEYCLOAK_AUTH_PATH", "/auth")
    code, output = cli(["doctor"])
    assert code == 1
    assert "/realms/demo/.well-known/openid-configuration answered HTTP 200" in output
    assert "fix: unset KEYCLOAK_AUTH_PATH: this Keycloak serves realms without the /auth prefix" in output


def test_nothing_listening_is_a_refused_connection_with_the_container_hint(keycloak_env, monkeypatch) -> None:
    monkeypatch.setenv("KEYCLOAK_INTERNAL_URL", f"http://127.0.0.1:{free_port()}")
    code, output = cli(["doctor"])
    assert code == 1
    assert "the connection was refused: nothing listens there" in output
    assert "inside a container `localhost` is the container itself" in output


def test_a_host_name_that_does_not_resolve_is_named(keycloak_env, monkeypatch) -> None:
    monkeypatch.setenv("KEYCLOAK_INTERNAL_URL", "http://keycloak.invalid:8080")
    code, output = cli(["doctor"])
    assert code == 1
    assert "cannot reach Keycloak at http://keycloak.invalid:8080" in output
    assert "the host name does not resolve" in output and "use the service name" in output


def test_https_with_a_certificate_of_an_unknown_ca_points_at_the_ca_bundle(
    keycloak_env, monkeypatch, tls_keycloak
) -> None:
    monkeypatch.setenv("KEYCLOAK_INTERNAL_URL", tls_keycloak.https_url)
    code, output = cli(["doctor"])
    assert code == 1
    assert "[FAIL] reach: cannot reach Keycloak" in output and "the TLS certificate is not trusted" in output
    assert "certificate verify failed" in output
    assert "set KEYCLOAK_CA_BUNDLE to the PEM file of the CA" in output and "never switched off" in output


def test_https_with_the_ca_bundle_set_passes(keycloak_env, monkeypatch, tls_keycloak) -> None:
    monkeypatch.setenv("KEYCLOAK_INTERNAL_URL", tls_keycloak.https_url)
    monkeypatch.setenv("KEYCLOAK_CA_BUNDLE", str(tls_keycloak.ca_bundle))
    code, output = cli(["doctor", "--client-credentials"])
    assert code == 0, output
    assert "TLS certificate verified" in output and "[PASS] service_token.signature" in output


def test_https_to_the_plain_http_port_is_a_wrong_scheme(keycloak_env, monkeypatch, tls_keycloak) -> None:
    monkeypatch.setenv("KEYCLOAK_INTERNAL_URL", f"https://127.0.0.1:{tls_keycloak.server.http_port}")
    code, output = cli(["doctor"])
    assert code == 1
    assert "does not speak the expected protocol" in output and "check the scheme of KEYCLOAK_INTERNAL_URL" in output


def test_plain_http_to_the_https_port_is_a_wrong_scheme(keycloak_env, monkeypatch, tls_keycloak) -> None:
    monkeypatch.setenv("KEYCLOAK_INTERNAL_URL", f"http://127.0.0.1:{tls_keycloak.https_port}")
    code, output = cli(["doctor"])
    assert code == 1 and "check the scheme of KEYCLOAK_INTERNAL_URL" in output, output


def test_a_realm_key_of_a_disallowed_algorithm_fails_with_the_fix(keycloak_env, monkeypatch) -> None:
    monkeypatch.setenv("KEYCLOAK_ALGORITHMS", "ES256")
    code, output = cli(["doctor"])
    assert code == 1
    assert "[FAIL] keys: the realm publishes no signing key usable with KEYCLOAK_ALGORITHMS=ES256" in output
    assert "alg 'RS256': no allowed algorithm uses it" in output
    assert "allow the realm's algorithm in KEYCLOAK_ALGORITHMS" in output


def test_a_token_of_the_rogue_client_is_refused_by_audience_with_the_mapper_fix(keycloak_env, tls_keycloak) -> None:
    token = token_of(tls_keycloak, "rogue", "rogue-secret")
    code, output = cli(["doctor", "--token", "-"], stdin=token)
    assert code == 1
    assert "[FAIL] token.aud: token audience (aud) does not include this API" in output
    assert "azp (the client the token was issued to) is 'rogue'" in output
    assert "add an audience mapper to the client 'rogue'" in output
    assert token not in output and token.split(".")[2] not in output


def test_an_expired_token_is_named_with_when_it_expired(keycloak_env, monkeypatch, tls_keycloak) -> None:
    with client_changed(tls_keycloak, "shop-api", attributes={"access.token.lifespan": "1"}):
        token = token_of(tls_keycloak, "shop-api", "shop-api-secret")
    time.sleep(2.5)
    monkeypatch.setenv("KEYCLOAK_LEEWAY_SECONDS", "0")
    code, output = cli(["doctor", "--token", token])
    assert code == 1
    assert "[FAIL] token.exp: token has expired" in output and "is in the past (leeway 0 s)" in output
    assert "fix: get a new token" in output
    assert "[PASS] token.signature: signature verified" in output


def test_a_wrong_client_secret_is_named_and_never_printed(keycloak_env, monkeypatch) -> None:
    monkeypatch.setenv("KEYCLOAK_CLIENT_SECRET", "Zq9-not-the-secret-7Tx")
    code, output = cli(["doctor", "--client-credentials"])
    assert code == 1
    assert "[FAIL] service_token: Keycloak refuses the secret of client 'shop-api'" in output
    assert "HTTP 401 unauthorized_client" in output and "Clients > shop-api > Credentials" in output
    assert "Zq9-not-the-secret-7Tx" not in output


def test_a_client_without_a_service_account_is_named(keycloak_env, monkeypatch, tls_keycloak) -> None:
    monkeypatch.setenv("KEYCLOAK_CLIENT_ID", "rogue")
    monkeypatch.setenv("KEYCLOAK_CLIENT_SECRET", "rogue-secret")
    with client_changed(tls_keycloak, "rogue", serviceAccountsEnabled=False):
        code, output = cli(["doctor", "--client-credentials"])
    assert code == 1
    assert "[FAIL] service_token: client 'rogue' has no service account" in output
    assert "enable 'Service accounts roles'" in output


def test_a_disabled_client_is_named(keycloak_env, monkeypatch, tls_keycloak) -> None:
    monkeypatch.setenv("KEYCLOAK_CLIENT_ID", "rogue")
    monkeypatch.setenv("KEYCLOAK_CLIENT_SECRET", "rogue-secret")
    with client_changed(tls_keycloak, "rogue", enabled=False):
        code, output = cli(["doctor", "--client-credentials"])
    assert code == 1
    assert (
        "[FAIL] service_token: Keycloak knows no enabled client 'rogue' in realm 'demo': unknown or disabled" in output
    )


def test_a_public_client_is_named(keycloak_env, monkeypatch) -> None:
    monkeypatch.setenv("KEYCLOAK_CLIENT_ID", "web")
    monkeypatch.setenv("KEYCLOAK_CLIENT_SECRET", "none")
    code, output = cli(["doctor", "--client-credentials"])
    assert code == 1 and "[FAIL] service_token: client 'web' is a public client" in output
