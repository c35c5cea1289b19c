"""Issue 10's framework edges with real Keycloak tokens: a principal bound to the auth that
verified it, enforced `Security` scopes, and a user on public paths.

The app-wide middleware trusts audience `api`; `/account-area` depends on a second auth for
audience `account`, which Keycloak puts into user tokens by default (field notes §2), and
`/billing` on one for `billing`, which no token of the realm carries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Request, Security
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, Principal
from keycloak_dev import KeycloakServer
from tests.integration.conftest import claims_of, settings_for, user_token


@pytest.fixture(scope="module")
def client(keycloak: KeycloakServer) -> Iterator[TestClient]:
    api = KeycloakAuth(settings_for(keycloak))
    account = KeycloakAuth(settings_for(keycloak, audience="account"))
    billing = KeycloakAuth(settings_for(keycloak, audience="billing"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with account, billing:  # the middleware starts `api`
            yield

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(KeycloakMiddleware, auth=api, public_paths=["/public"])

    @app.get("/billing")
    async def invoices(payer: Principal = Depends(billing.principal)) -> dict[str, Any]:
        return {"subject": payer.subject}

    @app.get("/account-area")
    async def account_area(request: Request, user: Principal = Depends(account.principal)) -> dict[str, Any]:
        return {"username": user.username, "request_user_is_the_middlewares": request.user is not user}

    @app.get("/write")
    async def write(user: Principal = Security(api.principal, scopes=["orders:write"])) -> dict[str, Any]:
        return {"username": user.username}

    @app.get("/email")
    async def email(user: Principal = Security(api.principal, scopes=["email"])) -> dict[str, Any]:
        return {"username": user.username}

    @app.get("/public")
    async def public(request: Request) -> dict[str, Any]:
        return {"authenticated": request.user.is_authenticated, "name": request.user.display_name}

    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def mario(keycloak: KeycloakServer) -> str:
    return user_token(keycloak, "mario")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_keycloak_puts_api_and_account_but_not_billing_into_a_user_token(mario: str) -> None:
    assert {"api", "account"} <= set(claims_of(mario)["aud"])
    assert "billing" not in claims_of(mario)["aud"]


def test_a_real_token_for_the_middlewares_audience_does_not_open_another_audiences_route(
    client: TestClient, mario: str
) -> None:
    response = client.get("/billing", headers=bearer(mario))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_real_token_for_both_audiences_opens_the_second_auths_route_with_its_own_principal(
    client: TestClient, mario: str
) -> None:
    assert client.get("/account-area", headers=bearer(mario)).json() == {
        "username": "mario",
        "request_user_is_the_middlewares": True,
    }


def test_a_real_token_without_a_security_scope_is_refused_naming_it(client: TestClient, mario: str) -> None:
    assert "orders:write" not in claims_of(mario)["scope"].split()
    response = client.get("/write", headers=bearer(mario))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"].endswith(
        'error="insufficient_scope", error_description="requires scope(s) orders:write", scope="orders:write"'
    )


def test_a_real_token_with_the_security_scope_passes(client: TestClient, mario: str) -> None:
    assert "email" in claims_of(mario)["scope"].split()
    assert client.get("/email", headers=bearer(mario)).json() == {"username": "mario"}


def test_a_public_path_reads_a_real_token_and_ignores_a_tampered_one(client: TestClient, mario: str) -> None:
    assert client.get("/public").json() == {"authenticated": False, "name": ""}
    assert client.get("/public", headers=bearer(mario)).json() == {"authenticated": True, "name": "mario"}
    tampered = mario[:-4] + ("AAAA" if not mario.endswith("AAAA") else "BBBB")
    assert client.get("/public", headers=bearer(tampered)).json() == {"authenticated": False, "name": ""}
