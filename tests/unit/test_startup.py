"""Start-up proves the settings against Keycloak, and every failure says what to fix."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakSettings
from tests.support.fake_keycloak import DISCOVERY_PATH, FakeKeycloak
from tests.support.tokens import INTERNAL_URL, ISSUER, SigningKey


def start(fake: FakeKeycloak, values: dict[str, Any]) -> KeycloakAuth:
    async def main() -> KeycloakAuth:
        async with KeycloakAuth(KeycloakSettings(**values), http_client=fake.client()) as auth:
            return auth

    return asyncio.run(main())


def start_error(fake: FakeKeycloak, values: dict[str, Any]) -> str:
    with pytest.raises(ConfigurationError) as info:
        start(fake, values)
    return str(info.value)


def test_start_reads_discovery_and_keys_through_the_internal_url(fake_keycloak, settings_values) -> None:
    start(fake_keycloak, settings_values)
    assert [str(r.url) for r in fake_keycloak.requests] == [
        f"{INTERNAL_URL}/realms/demo/.well-known/openid-configuration",
        f"{INTERNAL_URL}/realms/demo/protocol/openid-connect/certs",
    ]


def test_an_issuer_mismatch_names_both_issuers_and_both_fixes(fake_keycloak, settings_values) -> None:
    fake_keycloak.discovery_issuer = "http://keycloak.internal:8080/realms/demo"
    text = start_error(fake_keycloak, settings_values)
    assert ISSUER in text and "http://keycloak.internal:8080/realms/demo" in text
    assert "KEYCLOAK_PUBLIC_URL" in text and "hostname" in text


def test_an_unknown_realm_names_the_realm_and_the_legacy_auth_prefix(fake_keycloak, settings_values) -> None:
    text = start_error(fake_keycloak, {**settings_values, "realm": "no-such-realm"})
    assert "404" in text and "'no-such-realm'" in text and "KEYCLOAK_AUTH_PATH=/auth" in text


def test_a_redirect_is_not_followed_and_its_target_is_named(fake_keycloak, settings_values) -> None:
    fake_keycloak.override = lambda request: httpx.Response(302, headers={"Location": "https://sso.example.test/login"})
    text = start_error(fake_keycloak, settings_values)
    assert "302" in text and "https://sso.example.test/login" in text
    assert len(fake_keycloak.requests) == 1


def test_an_unreachable_keycloak_names_the_url_and_the_container_hint(fake_keycloak, settings_values) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    fake_keycloak.override = refuse
    text = start_error(fake_keycloak, settings_values)
    assert f"{INTERNAL_URL}/realms/demo/.well-known/openid-configuration" in text
    assert "refused" in text and "localhost" in text


def test_an_unresolvable_host_is_named_as_such(fake_keycloak, settings_values) -> None:
    text = start_error(fake_keycloak, {**settings_values, "internal_url": "http://nowhere.invalid"})
    assert "does not resolve" in text and "KEYCLOAK_INTERNAL_URL" in text


def test_the_default_client_names_a_real_dns_failure(settings_values) -> None:
    async def main() -> None:
        async with KeycloakAuth(KeycloakSettings(**{**settings_values, "internal_url": "http://nowhere.invalid"})):
            pass

    with pytest.raises(ConfigurationError, match="does not resolve"):
        asyncio.run(main())


def test_a_login_page_instead_of_json_says_what_came_back(fake_keycloak, settings_values) -> None:
    html = b"<html><body>Sign in</body></html>"
    fake_keycloak.override = lambda request: httpx.Response(200, content=html, headers={"Content-Type": "text/html"})
    text = start_error(fake_keycloak, settings_values)
    assert "not a JSON document" in text and "text/html" in text and "<html>" in text


def test_an_oversized_document_is_not_read_to_the_end(fake_keycloak, settings_values) -> None:
    served: list[int] = []

    async def endless() -> Any:
        for _ in range(10_000):  # 640 MB if it were read whole
            served.append(1)
            yield b"x" * 65536

    fake_keycloak.override = lambda request: httpx.Response(200, content=endless())
    text = start_error(fake_keycloak, settings_values)
    assert "larger than" in text
    assert len(served) <= 20


def test_a_hung_keycloak_fails_start_up_within_the_timeout(fake_keycloak, settings_values) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    fake_keycloak.override = hang
    text = start_error(fake_keycloak, {**settings_values, "http_timeout_seconds": 0.2})
    assert "no answer within 0.2 s" in text or "no complete answer" in text


def test_a_realm_without_keys_for_the_allowed_algorithms_is_refused(settings_values) -> None:
    fake = FakeKeycloak(keys=[SigningKey.ec("ec-only")])
    text = start_error(fake, settings_values)
    assert "KEYCLOAK_ALGORITHMS=RS256" in text and "ec-only" in text


def test_a_document_that_is_not_a_jwks_is_named(fake_keycloak, settings_values) -> None:
    fake_keycloak.override = lambda r: None if r.url.path == DISCOVERY_PATH else httpx.Response(200, json=[1])
    text = start_error(fake_keycloak, settings_values)
    assert "not a JWKS document" in text


def test_nested_starts_share_one_start_and_close_on_the_last_exit(fake_keycloak, settings_values) -> None:
    async def nested() -> tuple[bool, bool, bool]:
        auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())
        async with auth:
            async with auth:
                pass
            still = auth.started
        return still, auth.started, fake_keycloak.certs_hits == 1

    assert asyncio.run(nested()) == (True, False, True)


def test_an_injected_http_client_is_left_open_for_its_owner(fake_keycloak, settings_values) -> None:
    async def main() -> bool:
        client = fake_keycloak.client()
        async with KeycloakAuth(KeycloakSettings(**settings_values), http_client=client):
            pass
        return client.is_closed

    assert asyncio.run(main()) is False


def test_settings_come_from_the_environment_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYCLOAK_PUBLIC_URL", "https://auth.example.test")
    monkeypatch.setenv("KEYCLOAK_REALM", "demo")
    monkeypatch.setenv("KEYCLOAK_AUDIENCE", "api")
    assert KeycloakAuth().settings.issuer == "https://auth.example.test/realms/demo"


def test_invalid_environment_fails_when_the_auth_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="KEYCLOAK_PUBLIC_URL"):
        KeycloakAuth()
