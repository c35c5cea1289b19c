"""CORS and the middleware (issue 14): Starlette's `CORSMiddleware` outermost answers preflights
before authentication and adds its headers to refusals; the reverse order is warned about
when the app starts.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.middleware.cors import CORSMiddleware

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, KeycloakSettings
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims

ORIGIN = "https://shop.example.test"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization",
}


@pytest.fixture
def auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> KeycloakAuth:
    return KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())


def build_app(auth: KeycloakAuth, *, cors_outermost: bool) -> FastAPI:
    app = FastAPI()

    @app.post("/orders")
    async def orders() -> dict[str, bool]:
        return {"ordered": True}

    cors = {"allow_origins": [ORIGIN], "allow_methods": ["*"], "allow_headers": ["authorization"]}
    if cors_outermost:  # the last middleware added is the outermost
        app.add_middleware(KeycloakMiddleware, auth=auth)
        app.add_middleware(CORSMiddleware, **cors)
    else:
        app.add_middleware(CORSMiddleware, **cors)
        app.add_middleware(KeycloakMiddleware, auth=auth)
    return app


def test_with_cors_outermost_a_preflight_gets_its_cors_answer_without_a_token(auth: KeycloakAuth) -> None:
    with TestClient(build_app(auth, cors_outermost=True)) as client:
        response = client.options("/orders", headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_with_cors_outermost_a_request_without_a_token_is_401_with_cors_headers(auth: KeycloakAuth) -> None:
    with TestClient(build_app(auth, cors_outermost=True)) as client:
        response = client.post("/orders", headers={"Origin": ORIGIN})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="demo"'
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_with_cors_outermost_a_request_with_a_token_passes(auth: KeycloakAuth, signing_key: SigningKey) -> None:
    headers = {"Origin": ORIGIN, "Authorization": f"Bearer {mint(user_claims(), signing_key)}"}
    with TestClient(build_app(auth, cors_outermost=True)) as client:
        response = client.post("/orders", headers=headers)
    assert response.json() == {"ordered": True}
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_cors_inside_the_middleware_is_warned_about_at_start_up(
    auth: KeycloakAuth, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="fastapi_kc"), TestClient(build_app(auth, cors_outermost=False)):
        warnings = [r.getMessage() for r in caplog.records if "CORSMiddleware" in r.getMessage()]
    assert len(warnings) == 1
    assert "Add CORSMiddleware after KeycloakMiddleware" in warnings[0]


def test_cors_outermost_is_not_warned_about(auth: KeycloakAuth, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fastapi_kc"), TestClient(build_app(auth, cors_outermost=True)):
        assert not [r for r in caplog.records if "CORSMiddleware" in r.getMessage()]


def test_with_cors_inside_a_preflight_on_a_protected_path_still_needs_a_token(auth: KeycloakAuth) -> None:
    """The wrong order fails closed: the preflight is refused, nothing is opened."""
    with TestClient(build_app(auth, cors_outermost=False)) as client:
        response = client.options("/orders", headers=PREFLIGHT)
    assert response.status_code == 401
    assert "Access-Control-Allow-Origin" not in response.headers
