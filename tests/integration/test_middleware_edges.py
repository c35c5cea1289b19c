"""Issue 14's middleware items with real Keycloak tokens: refusals shaped by the app, method
rules with CORS outermost, several realms behind one middleware, a mounted sub-application,
and the middleware closing `auth` when the app's own start-up fails.

The second realm is a stand-in (a key set served by `httpx.MockTransport`): the development
Keycloak has one realm, and what is shown is that its real tokens are chosen and verified by
its own auth beside another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from fastapi_kc import AuthError, KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal
from keycloak_dev import KeycloakServer
from tests.integration.conftest import claims_of, settings_for, user_token
from tests.support.tokens import SigningKey, mint, user_claims

ORIGIN = "https://shop.example.test"
PARTNER_ISSUER = "https://login.partner.example/realms/partners"


@pytest.fixture(scope="module")
def mario(keycloak: KeycloakServer) -> str:
    return user_token(keycloak, "mario")


@pytest.fixture(scope="module")
def partner_key() -> SigningKey:
    return SigningKey.rsa("kid-partner")


def partner_auth(partner_key: SigningKey) -> KeycloakAuth:
    def keycloak(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={"issuer": PARTNER_ISSUER})
        return httpx.Response(200, json={"keys": [partner_key.jwk()]})

    settings = KeycloakSettings(public_url="https://login.partner.example", realm="partners", audience="api")
    return KeycloakAuth(settings, http_client=httpx.AsyncClient(transport=httpx.MockTransport(keycloak)))


@pytest.fixture(scope="module")
def client(keycloak: KeycloakServer, partner_key: SigningKey) -> Iterator[TestClient]:
    shop = KeycloakAuth(settings_for(keycloak))
    partners = partner_auth(partner_key)
    app = FastAPI()
    app.add_middleware(KeycloakMiddleware, auth=[shop, partners], public_paths=[("GET", "/catalog/*")])
    app.add_middleware(CORSMiddleware, allow_origins=[ORIGIN], allow_methods=["*"], allow_headers=["authorization"])

    @app.exception_handler(AuthError)
    async def refused(request: Request, error: AuthError) -> Response:
        if error.status_code == 401 and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        body = {"title": error.error or "unauthorized", "status": error.status_code, "detail": error.description}
        return JSONResponse(body, error.status_code, headers=error.headers, media_type="application/problem+json")

    @app.get("/catalog/{item}")
    async def item(item: str, request: Request) -> dict[str, Any]:
        return {"item": item, "member": request.user.display_name if request.user.is_authenticated else None}

    @app.put("/catalog/{item}")
    async def change(item: str, request: Request) -> dict[str, Any]:
        return {"changed": item, "by": request.user.username}

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        return {"issuer": request.user.claims["iss"], "username": request.user.username}

    @app.get("/admin")
    async def admin(caller: Principal = Depends(shop.require_roles("admin"))) -> dict[str, Any]:
        return {"admin": caller.username}

    with TestClient(app) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_real_token_lacking_a_role_gets_the_apps_problem_details(client: TestClient, mario: str) -> None:
    response = client.get("/admin", headers=bearer(mario))
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json() == {"title": "insufficient_scope", "status": 403, "detail": "requires realm role(s) admin"}
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_a_browser_without_a_token_is_redirected_to_the_login_page(client: TestClient) -> None:
    response = client.get("/whoami", headers={"Accept": "text/html"}, follow_redirects=False)
    assert (response.status_code, response.headers["Location"]) == (303, "/login?next=/whoami")


def test_a_get_rule_opens_reading_and_a_real_token_is_still_read_there(client: TestClient, mario: str) -> None:
    assert client.get("/catalog/pizza").json() == {"item": "pizza", "member": None}
    assert client.get("/catalog/pizza", headers=bearer(mario)).json() == {"item": "pizza", "member": "mario"}
    assert client.put("/catalog/pizza").status_code == 401
    assert client.put("/catalog/pizza", headers=bearer(mario)).json() == {"changed": "pizza", "by": "mario"}


def test_with_cors_outermost_preflights_pass_and_refusals_carry_cors_headers(client: TestClient, mario: str) -> None:
    preflight = client.options("/catalog/pizza", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "PUT"})
    assert preflight.status_code == 200
    refused = client.put("/catalog/pizza", headers={"Origin": ORIGIN})
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = client.put("/catalog/pizza", headers={"Origin": ORIGIN, **bearer(mario)})
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_real_tokens_and_the_other_realms_tokens_each_go_to_their_own_auth(
    client: TestClient, mario: str, partner_key: SigningKey
) -> None:
    assert client.get("/whoami", headers=bearer(mario)).json() == {
        "issuer": claims_of(mario)["iss"],
        "username": "mario",
    }
    partner = mint(user_claims(iss=PARTNER_ISSUER, preferred_username="pia"), partner_key)
    assert client.get("/whoami", headers=bearer(partner)).json() == {"issuer": PARTNER_ISSUER, "username": "pia"}
    # A real token's claims re-signed with the partner's key: its issuer picks the shop's auth, which
    # checks the signature against the real realm's keys and refuses it.
    forged = mint({**claims_of(mario)}, partner_key)
    assert client.get("/whoami", headers=bearer(forged)).status_code == 401


def test_an_auth_used_only_in_a_mounted_sub_application_starts_on_the_first_real_request(
    keycloak: KeycloakServer, mario: str
) -> None:
    auth = KeycloakAuth(settings_for(keycloak))
    api = FastAPI(lifespan=auth.lifespan)  # never run by Starlette for a mounted app

    @api.get("/me")
    async def me(caller: Principal = Depends(auth.principal)) -> dict[str, Any]:
        return {"username": caller.username}

    with TestClient(Starlette(routes=[Mount("/api", app=api)])) as test_client:
        assert not auth.started
        response = test_client.get("/api/me", headers=bearer(mario))
        assert auth.started
        test_client.portal.call(auth.close)  # type: ignore[union-attr]
    assert response.json() == {"username": "mario"}


def test_the_middleware_closes_auth_when_the_apps_own_start_up_fails(keycloak: KeycloakServer) -> None:
    auth = KeycloakAuth(settings_for(keycloak))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        assert auth.started
        raise RuntimeError("the database is down")
        yield

    app = Starlette(lifespan=lifespan, middleware=[Middleware(KeycloakMiddleware, auth=auth)])
    with pytest.raises(RuntimeError, match="database"), TestClient(app):
        pass
    assert not auth.started
