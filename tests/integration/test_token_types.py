"""Keycloak's ID and refresh tokens are signed by the same key: they are still not access tokens."""

from __future__ import annotations

import base64
import json

from fastapi_kc import AuthError
from keycloak_dev import KeycloakServer
from tests.integration.conftest import PASSWORDS, claims_of, settings_for, verify


def tokens(keycloak: KeycloakServer) -> dict[str, str]:
    return keycloak.token("web", username="mario", password=PASSWORDS["mario"], scope="openid")


def test_an_id_token_is_refused(settings, keycloak: KeycloakServer) -> None:
    [result] = verify(settings, tokens(keycloak)["id_token"])
    assert isinstance(result, AuthError) and result.status_code == 401


def test_an_id_token_is_refused_for_its_type_even_when_its_audience_is_accepted(keycloak: KeycloakServer) -> None:
    id_token = tokens(keycloak)["id_token"]
    assert claims_of(id_token)["typ"] == "ID"
    [result] = verify(settings_for(keycloak, audience="api,web"), id_token)
    assert isinstance(result, AuthError) and result.reason == "token_type"


def test_a_refresh_token_is_refused(settings, keycloak: KeycloakServer) -> None:
    refresh = tokens(keycloak)["refresh_token"]
    assert claims_of(refresh)["typ"] == "Refresh"
    [result] = verify(settings, refresh)
    assert isinstance(result, AuthError) and result.status_code == 401


def test_a_refresh_token_is_signed_with_hmac_and_refused_by_the_algorithm_allow_list(
    keycloak: KeycloakServer,
) -> None:
    refresh = tokens(keycloak)["refresh_token"]
    assert header_of(refresh)["alg"].startswith("HS")  # Keycloak 26 signs refresh tokens with the realm's HMAC key
    [result] = verify(settings_for(keycloak, audience=f"api,{keycloak.public_url}/realms/demo"), refresh)
    assert isinstance(result, AuthError) and result.reason == "algorithm"


def header_of(token: str) -> dict[str, str]:
    segment = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))
