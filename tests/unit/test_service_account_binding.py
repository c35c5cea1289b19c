"""A service account is bound to the client the token was issued to (issue 10, item 7).

`client_id` and `preferred_username` are written by protocol mappers: another client can be
given mappers that write `client_id: shop-api` and `service-account-shop-api`. Only `azp`,
set by Keycloak to the client that requested the token, says whose token it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, KeycloakSettings, Principal
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, service_claims

# A client-credentials token of client `rogue`, whose mappers impersonate `shop-api`'s account.
IMPERSONATING = {"azp": "rogue"}


@pytest.fixture
def client(fake_keycloak: FakeKeycloak, settings_values: dict[str, object]) -> Iterator[TestClient]:
    auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/internal")
    def internal(caller: Principal = Depends(auth.require_service_account("shop-api"))) -> str:
        return str(caller.client_id)

    @app.get("/any-service")
    def any_service(caller: Principal = Depends(auth.require_service_account())) -> str:
        return str(caller.client_id)

    with TestClient(app) as client:
        yield client


def call(client: TestClient, path: str, claims: dict[str, Any], key: SigningKey) -> int:
    return client.get(path, headers={"Authorization": f"Bearer {mint(claims, key)}"}).status_code


@pytest.mark.parametrize("path", ["/internal", "/any-service"])
def test_the_service_account_of_the_named_client_passes(client: TestClient, signing_key: SigningKey, path: str) -> None:
    assert call(client, path, service_claims("shop-api"), signing_key) == 200


@pytest.mark.parametrize("path", ["/internal", "/any-service"])
@pytest.mark.parametrize(
    "azp", [pytest.param("rogue", id="other-client"), pytest.param(None, id="no-azp"),
            pytest.param("SHOP-API", id="other-case"), pytest.param(["shop-api"], id="not-a-string")],
)  # fmt: skip
def test_a_token_issued_to_another_client_is_not_that_client_s_service_account(
    client: TestClient, signing_key: SigningKey, path: str, azp: object
) -> None:
    claims = service_claims("shop-api", azp=azp)
    assert claims.get("client_id") == "shop-api" and claims["preferred_username"] == "service-account-shop-api"
    assert call(client, path, claims, signing_key) == 403


def test_the_principal_does_not_call_it_a_service_account() -> None:
    principal = Principal.from_claims(service_claims("shop-api", **IMPERSONATING))
    assert principal.is_service_account is False and principal.authorized_party == "rogue"


def test_the_pre_26_clientid_claim_is_bound_the_same_way() -> None:
    claims = service_claims("shop-api", **IMPERSONATING)
    claims["clientId"] = claims.pop("client_id")
    assert Principal.from_claims(claims).is_service_account is False
    claims["azp"] = "shop-api"
    assert Principal.from_claims(claims).is_service_account is True
