"""Issue 10, item 7, against the real Keycloak: mappers cannot make another client's token a service account.

A confidential client `impersonator`, created here through the admin API, has hardcoded-claim
mappers writing `client_id: shop-api` and `preferred_username: service-account-shop-api` into
its client-credentials tokens, and an audience mapper for `api`. Keycloak still sets `azp` to
`impersonator`, which is what `require_service_account("shop-api")` now checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, Principal
from keycloak_dev import KeycloakServer
from tests.integration.conftest import claims_of, service_token, settings_for

SECRET = "impersonator-secret"


def hardcoded(claim: str, value: str) -> dict[str, Any]:
    return {
        "name": f"hardcoded {claim}", "protocol": "openid-connect", "protocolMapper": "oidc-hardcoded-claim-mapper",
        "config": {"claim.name": claim, "claim.value": value, "jsonType.label": "String",
                   "access.token.claim": "true", "id.token.claim": "false", "userinfo.token.claim": "false"},
    }  # fmt: skip


@pytest.fixture(scope="module")
def impersonating_token(keycloak: KeycloakServer) -> str:
    """A client-credentials token of `impersonator`, whose claims read like `shop-api`'s service account."""
    for found in keycloak.admin("GET", "demo/clients?clientId=impersonator"):
        keycloak.admin("DELETE", f"demo/clients/{found['id']}")
    keycloak.admin("POST", "demo/clients", {
        "clientId": "impersonator", "enabled": True, "publicClient": False, "secret": SECRET,
        "serviceAccountsEnabled": True, "standardFlowEnabled": False, "directAccessGrantsEnabled": False,
        # No `profile` scope (its username mapper) and no `service_account` scope (its client_id mapper):
        # only the hardcoded mappers below write those two claims.
        "defaultClientScopes": ["basic", "roles"], "optionalClientScopes": [],
        "protocolMappers": [
            hardcoded("client_id", "shop-api"), hardcoded("preferred_username", "service-account-shop-api"),
            {"name": "audience api", "protocol": "openid-connect", "protocolMapper": "oidc-audience-mapper",
             "config": {"included.client.audience": "api", "access.token.claim": "true", "id.token.claim": "false"}},
        ],
    })  # fmt: skip
    (created,) = keycloak.admin("GET", "demo/clients?clientId=impersonator")
    # Keycloak adds the `service_account` scope to every client with a service account; its
    # mapper would overwrite the hardcoded `client_id`. Removed, so only the mappers above write it.
    for scope in keycloak.admin("GET", f"demo/clients/{created['id']}/default-client-scopes"):
        if scope["name"] in ("service_account", "profile"):
            keycloak.admin("DELETE", f"demo/clients/{created['id']}/default-client-scopes/{scope['id']}")
    token = keycloak.token("impersonator", client_secret=SECRET)["access_token"]
    return str(token)


@pytest.fixture
def client(keycloak: KeycloakServer) -> Iterator[TestClient]:
    auth = KeycloakAuth(settings_for(keycloak))
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/internal")
    def internal(caller: Principal = Depends(auth.require_service_account("shop-api"))) -> str:
        return str(caller.client_id)

    with TestClient(app) as client:
        yield client


def test_keycloak_lets_another_client_s_mappers_write_shop_api_s_claims(impersonating_token: str) -> None:
    """The attack's precondition, as the real Keycloak issues it."""
    claims = claims_of(impersonating_token)
    assert claims.get("client_id") == "shop-api" and claims.get("preferred_username") == "service-account-shop-api"
    assert "sid" not in claims and "api" in claims.get("aud", []) and claims["azp"] == "impersonator"


def test_the_impersonating_token_is_not_shop_api_s_service_account(
    client: TestClient, impersonating_token: str
) -> None:
    assert client.get("/internal", headers={"Authorization": f"Bearer {impersonating_token}"}).status_code == 403


def test_shop_api_s_own_service_account_token_passes(client: TestClient, keycloak: KeycloakServer) -> None:
    token = service_token(keycloak, "shop-api")
    assert client.get("/internal", headers={"Authorization": f"Bearer {token}"}).status_code == 200
