"""Introspection with the fake Keycloak: `require_active`, the every-request setting, the cache,
failing closed, and Keycloak's lightweight access tokens."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.types import Scope

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal
from fastapi_kc.metrics import CountingMetrics
from tests.support.fake_keycloak import CLIENT_ID, CLIENT_SECRET, REALM_PATH, FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims

INTROSPECT_PATH = f"{REALM_PATH}/protocol/openid-connect/token/introspect"


class Introspection:
    """Keycloak's introspection endpoint: `answers` maps a token to its answer (default: inactive)."""

    def __init__(self, fake: FakeKeycloak) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.status = 200
        fake.override = self.handle

    def handle(self, request: httpx.Request) -> httpx.Response | None:
        if request.url.path != INTROSPECT_PATH:
            return None
        self.calls += 1
        user, _, secret = base64.b64decode(request.headers["Authorization"][6:]).decode().partition(":")
        if (user, secret) != (CLIENT_ID, CLIENT_SECRET):
            return httpx.Response(401, json={"error": "invalid_client"})
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "unknown_error"})
        token = parse_qs(request.content.decode())["token"][0]
        return httpx.Response(200, json=self.answers.get(token, {"active": False}))


@pytest.fixture
def introspection(fake_keycloak: FakeKeycloak) -> Introspection:
    return Introspection(fake_keycloak)


def make_app(auth: KeycloakAuth) -> FastAPI:
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/active")
    async def active(user: Principal = Depends(auth.require_active())) -> dict[str, Any]:
        return {"subject": user.subject, "roles": sorted(user.realm_roles)}

    @app.get("/me")
    async def me(user: Principal = Depends(auth.principal)) -> dict[str, Any]:
        return {"subject": user.subject, "roles": sorted(user.realm_roles)}

    return app


@pytest.fixture
def make_client(fake_keycloak: FakeKeycloak, settings_values: dict[str, object]) -> Callable[..., TestClient]:
    def build(**overrides: object) -> TestClient:
        settings = KeycloakSettings(**{**settings_values, **overrides})
        return TestClient(make_app(KeycloakAuth(settings, http_client=fake_keycloak.client())))

    return build


def get(client: TestClient, path: str, token: str) -> httpx.Response:
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def active_answer(claims: dict[str, Any]) -> dict[str, Any]:
    return {**claims, "active": True, "client_id": "web", "username": "mario", "token_type": "Bearer"}


def test_an_active_token_passes_and_the_answer_is_reused_briefly(
    make_client: Callable[..., TestClient], introspection: Introspection, signing_key: SigningKey
) -> None:
    claims = user_claims()
    token = mint(claims, signing_key)
    introspection.answers[token] = active_answer(claims)
    with make_client() as client:
        assert get(client, "/active", token).status_code == 200
        assert get(client, "/active", token).status_code == 200
    assert introspection.calls == 1


def test_a_token_keycloak_calls_inactive_is_refused_although_it_verifies_locally(
    make_client: Callable[..., TestClient], introspection: Introspection, signing_key: SigningKey
) -> None:
    token = mint(user_claims(), signing_key)  # a valid signature, but Keycloak ended its session
    with make_client() as client:
        assert get(client, "/me", token).status_code == 200
        refused = get(client, "/active", token)
    assert refused.status_code == 401
    assert 'error="invalid_token", error_description="token is not active"' in refused.headers["www-authenticate"]


@pytest.mark.parametrize("failure", ["down", "500", "wrong secret"])
def test_no_usable_answer_from_keycloak_fails_closed_with_503(
    make_client: Callable[..., TestClient],
    introspection: Introspection,
    fake_keycloak: FakeKeycloak,
    signing_key: SigningKey,
    failure: str,
) -> None:
    claims = user_claims()
    token = mint(claims, signing_key)
    introspection.answers[token] = active_answer(claims)
    overrides = {"client_secret": "not-the-secret"} if failure == "wrong secret" else {}
    with make_client(**overrides) as client:
        if failure == "down":
            fake_keycloak.override = None
            fake_keycloak.down = True
        elif failure == "500":
            introspection.status = 500
        refused = get(client, "/active", token)
    assert refused.status_code == 503
    assert "temporarily_unavailable" in refused.headers["www-authenticate"]


def test_a_lightweight_access_token_is_accepted_with_the_claims_only_introspection_returns(
    make_client: Callable[..., TestClient], introspection: Introspection, signing_key: SigningKey
) -> None:
    full = user_claims()
    # Keycloak's lightweight access token: no audience, roles or profile in the token itself.
    light = {name: full[name] for name in ("exp", "iat", "jti", "iss", "typ", "azp", "sid", "scope", "sub")}
    token = mint(light, signing_key)
    introspection.answers[token] = active_answer(full)
    with make_client(introspect_every_request=True) as client:
        response = get(client, "/me", token)
    assert response.status_code == 200
    assert response.json() == {"subject": full["sub"], "roles": sorted(full["realm_access"]["roles"])}


def test_every_request_introspection_refuses_an_inactive_token_everywhere(
    make_client: Callable[..., TestClient], introspection: Introspection, signing_key: SigningKey
) -> None:
    token = mint(user_claims(), signing_key)
    with make_client(introspect_every_request=True) as client:
        assert get(client, "/me", token).status_code == 401


def test_introspected_claims_cannot_override_the_signed_ones(
    make_client: Callable[..., TestClient], introspection: Introspection, signing_key: SigningKey
) -> None:
    claims = user_claims(aud="other-api")
    token = mint(claims, signing_key)
    introspection.answers[token] = active_answer({**claims, "aud": "api"})
    with make_client(introspect_every_request=True) as client:
        assert get(client, "/me", token).status_code == 401


def test_junk_never_reaches_keycloak(
    make_client: Callable[..., TestClient], introspection: Introspection, signing_key: SigningKey
) -> None:
    expired = mint(user_claims(exp=int(time.time()) - 3600), signing_key)
    with make_client(introspect_every_request=True) as client:
        assert get(client, "/me", "not.a.token").status_code == 401
        assert get(client, "/me", expired).status_code == 401
    assert introspection.calls == 0


def test_introspection_without_client_credentials_is_a_configuration_error(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object]
) -> None:
    values = {**settings_values, "client_id": None, "client_secret": None}
    with pytest.raises(ConfigurationError, match="KEYCLOAK_CLIENT_SECRET"):
        KeycloakAuth(KeycloakSettings(**values, introspect_every_request=True))
    auth = KeycloakAuth(KeycloakSettings(**values), http_client=fake_keycloak.client())
    with pytest.raises(ConfigurationError, match="KEYCLOAK_CLIENT_ID"):
        auth.require_active()


def test_a_token_from_the_middlewares_credential_source_is_introspected_too(
    fake_keycloak: FakeKeycloak,
    settings_values: dict[str, object],
    introspection: Introspection,
    signing_key: SigningKey,
) -> None:
    # A login session's token reaches the app without an Authorization header (the browser sends
    # only its cookie): `require_active` must ask Keycloak about that token, not answer 401.
    claims = user_claims()
    token = mint(claims, signing_key)
    introspection.answers[token] = active_answer(claims)
    auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())

    async def session_cookie(scope: Scope) -> str | None:
        return token if b"session=mario" in dict(scope["headers"]).get(b"cookie", b"") else None

    app = make_app(auth)
    app.add_middleware(KeycloakMiddleware, auth=auth, credentials=session_cookie)
    with TestClient(app) as client:
        answer = client.get("/active", headers={"Cookie": "session=mario"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["subject"] == claims["sub"]
    assert introspection.calls == 1


def test_every_request_introspection_counts_each_verification_in_the_metrics(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], introspection: Introspection,
    signing_key: SigningKey,
) -> None:  # fmt: skip
    claims = user_claims()
    token = mint(claims, signing_key)
    introspection.answers[token] = active_answer(claims)
    counts = CountingMetrics()
    settings = KeycloakSettings(**{**settings_values, "introspect_every_request": True})
    auth = KeycloakAuth(settings, http_client=fake_keycloak.client(), metrics=counts)
    with TestClient(make_app(auth)) as client:
        statuses = [
            get(client, "/me", token).status_code,
            get(client, "/me", mint(user_claims(), signing_key)).status_code,
        ]
    assert statuses == [200, 401]  # the second token is not active
    assert (counts.cache_misses, counts.verified_accepted, sum(counts.bucket_counts)) == (2, 1, 2)
