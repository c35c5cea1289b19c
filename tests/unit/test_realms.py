"""One middleware for several realms (issue 14): the token's issuer picks the auth, which then
verifies strictly; an issuer none of them trusts is refused.

Two fake Keycloaks with their own keys: the shop's (`https://auth.example.test`) and a
partner's (`https://partner-auth.example.test`), both on realm `demo`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import ISSUER, SigningKey, mint, user_claims

PARTNER_URL = "https://partner-auth.example.test"
PARTNER_ISSUER = f"{PARTNER_URL}/realms/demo"


@pytest.fixture(scope="module")
def partner_key() -> SigningKey:
    return SigningKey.rsa("kid-partner")


@pytest.fixture
def partner_keycloak(partner_key: SigningKey) -> FakeKeycloak:
    return FakeKeycloak(keys=[partner_key], discovery_issuer=PARTNER_ISSUER)


@pytest.fixture
def shop(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> KeycloakAuth:
    return KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())


@pytest.fixture
def partner(partner_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> KeycloakAuth:
    values = {**settings_values, "public_url": PARTNER_URL}
    return KeycloakAuth(KeycloakSettings(**values), http_client=partner_keycloak.client())


@pytest.fixture
def client(shop: KeycloakAuth, partner: KeycloakAuth) -> Iterator[TestClient]:
    app = FastAPI()
    app.add_middleware(KeycloakMiddleware, auth=[shop, partner], public_paths=["/public"])

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        return {"subject": request.user.identity, "issuer": request.user.claims["iss"]}

    @app.get("/partners-only")
    async def partners_only(caller: Principal = Depends(partner.principal)) -> dict[str, Any]:
        return {"subject": caller.subject}

    @app.get("/public")
    async def public(request: Request) -> dict[str, Any]:
        return {"authenticated": request.user.is_authenticated}

    with TestClient(app) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("realm", ["shop", "partner"])
def test_a_token_of_either_realm_is_verified_by_its_own_auth(
    client: TestClient, signing_key: SigningKey, partner_key: SigningKey, realm: str
) -> None:
    issuer, key = (ISSUER, signing_key) if realm == "shop" else (PARTNER_ISSUER, partner_key)
    response = client.get("/whoami", headers=bearer(mint(user_claims(iss=issuer), key)))
    assert response.json() == {"subject": "0b5c6e1a-user-mario", "issuer": issuer}


def test_a_token_naming_the_partner_issuer_but_signed_by_the_shop_is_refused(
    client: TestClient, signing_key: SigningKey
) -> None:
    """The issuer only picks; the partner's auth checks the signature with the partner's keys."""
    response = client.get("/whoami", headers=bearer(mint(user_claims(iss=PARTNER_ISSUER), signing_key)))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_of_an_issuer_no_auth_trusts_is_refused_401(client: TestClient, signing_key: SigningKey) -> None:
    response = client.get(
        "/whoami", headers=bearer(mint(user_claims(iss="https://evil.example/realms/demo"), signing_key))
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="demo", error="invalid_token", error_description="token issuer is not one this service trusts"'
    )


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-token"),
        pytest.param("Bearer not-a-jwt", id="garbage"),
        pytest.param("Bearer a.!!!.c", id="unreadable-payload"),
    ],
)
def test_requests_without_a_readable_token_are_refused_as_by_a_single_auth(
    client: TestClient, authorization: str | None
) -> None:
    response = client.get("/whoami", headers={"Authorization": authorization} if authorization else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="demo"')


def test_a_route_of_one_realm_refuses_the_other_realms_principal(
    client: TestClient, signing_key: SigningKey, partner_key: SigningKey
) -> None:
    shop_token = mint(user_claims(), signing_key)
    partner_token = mint(user_claims(iss=PARTNER_ISSUER), partner_key)
    assert client.get("/partners-only", headers=bearer(shop_token)).status_code == 401
    assert client.get("/partners-only", headers=bearer(partner_token)).json() == {"subject": "0b5c6e1a-user-mario"}


def test_a_public_path_reads_a_token_of_either_realm(client: TestClient, partner_key: SigningKey) -> None:
    token = mint(user_claims(iss=PARTNER_ISSUER), partner_key)
    assert client.get("/public", headers=bearer(token)).json() == {"authenticated": True}
    assert client.get("/public", headers=bearer(token + "x")).json() == {"authenticated": False}


def test_the_middleware_starts_and_stops_every_auth(shop: KeycloakAuth, partner: KeycloakAuth) -> None:
    app = FastAPI()
    app.add_middleware(KeycloakMiddleware, auth=[shop, partner])
    with TestClient(app):
        assert shop.started and partner.started
    assert not shop.started and not partner.started


def test_two_auths_for_one_issuer_are_refused(shop: KeycloakAuth, fake_keycloak: FakeKeycloak) -> None:
    other_audience = KeycloakAuth(KeycloakSettings(**{**shop.settings.model_dump(), "audience": ["billing"]}))
    with pytest.raises(ValueError, match="two auths for issuer"):
        KeycloakMiddleware(FastAPI(), auth=[shop, other_audience])


def test_an_empty_list_of_auths_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        KeycloakMiddleware(FastAPI(), auth=[])
