"""Field notes §1 and §2 against the real Keycloak: the public issuer, and the audience."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from fastapi_kc import AuthError, ConfigurationError, KeycloakAuth, Principal
from keycloak_dev import KeycloakServer
from tests.integration.conftest import claims_of, service_token, settings_for, user_token, verify


def test_tokens_obtained_through_the_internal_url_carry_the_public_issuer(keycloak: KeycloakServer) -> None:
    assert claims_of(user_token(keycloak, "mario"))["iss"] == f"{keycloak.public_url}/realms/demo"


def test_discovery_through_the_internal_url_reports_the_public_issuer_and_internal_endpoints(
    keycloak: KeycloakServer,
) -> None:
    url = f"{keycloak.internal_url}/realms/demo/.well-known/openid-configuration"
    with urllib.request.urlopen(url) as response:  # noqa: S310 - the local Keycloak
        document = json.load(response)
    assert document["issuer"] == f"{keycloak.public_url}/realms/demo"
    assert document["jwks_uri"].startswith(keycloak.internal_url)
    assert document["authorization_endpoint"].startswith(keycloak.public_url)


def test_a_real_user_token_verifies(settings, keycloak: KeycloakServer) -> None:
    [principal] = verify(settings, user_token(keycloak, "mario"))
    assert isinstance(principal, Principal)
    assert principal.username == "mario" and principal.email == "mario@example.test"


def test_the_internal_url_as_public_url_fails_at_start_naming_both_issuers(keycloak: KeycloakServer) -> None:
    wrong = settings_for(keycloak, public_url=keycloak.internal_url)

    async def start() -> None:
        async with KeycloakAuth(wrong):
            pass

    with pytest.raises(ConfigurationError) as info:
        asyncio.run(start())
    text = str(info.value)
    assert f"{keycloak.internal_url}/realms/demo" in text and f"{keycloak.public_url}/realms/demo" in text
    assert "KEYCLOAK_PUBLIC_URL" in text


def test_keycloak_puts_api_into_web_and_shop_api_tokens_through_the_audience_mapper(keycloak: KeycloakServer) -> None:
    assert "api" in claims_of(user_token(keycloak, "mario"))["aud"]
    assert "api" in claims_of(service_token(keycloak, "shop-api"))["aud"]
    assert "api" not in claims_of(service_token(keycloak, "rogue"))["aud"]


def test_a_token_of_another_service_is_refused_by_audience(settings, keycloak: KeycloakServer) -> None:
    [result] = verify(settings, service_token(keycloak, "rogue"))
    assert isinstance(result, AuthError) and result.status_code == 401 and result.reason == "audience"


def test_a_token_for_this_api_is_accepted(settings, keycloak: KeycloakServer) -> None:
    [result] = verify(settings, service_token(keycloak, "shop-api"))
    assert isinstance(result, Principal) and result.client_id == "shop-api"


def test_the_legacy_auth_path_builds_every_url(keycloak: KeycloakServer) -> None:
    legacy = settings_for(keycloak, auth_path="/auth")
    assert legacy.issuer == f"{keycloak.public_url}/auth/realms/demo"
    assert legacy.jwks_url == f"{keycloak.internal_url}/auth/realms/demo/protocol/openid-connect/certs"
    assert legacy.token_url == f"{keycloak.internal_url}/auth/realms/demo/protocol/openid-connect/token"


def test_a_missing_auth_prefix_fails_at_start_with_the_hint(keycloak: KeycloakServer) -> None:
    legacy = settings_for(keycloak, auth_path="/auth")

    async def start() -> None:
        async with KeycloakAuth(legacy):
            pass

    with pytest.raises(ConfigurationError, match="404"):
        asyncio.run(start())
