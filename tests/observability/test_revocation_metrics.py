"""Revocations received and introspection calls, counted through the real routes (fake Keycloak)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, KeycloakSettings, Principal
from tests.observability.conftest import Backend
from tests.revocation.support import build_app, logout_token
from tests.revocation.test_introspection import Introspection
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def revocations(backend: Backend, result: str) -> float | None:
    return backend.read("fastapi_kc_revocations_received_total", result=result)


def test_back_channel_logouts_are_counted_as_accepted_or_invalid(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, Any], signing_key: SigningKey, backend: Backend
) -> None:
    settings = KeycloakSettings(**settings_values, logout_audience=["web"])
    auth = KeycloakAuth(settings, http_client=fake_keycloak.client(), metrics=backend.metrics)
    token = logout_token(signing_key)
    with TestClient(build_app(auth)) as client:
        assert client.post("/backchannel-logout", content=f"logout_token={token}", headers=FORM).status_code == 200
        replayed = client.post("/backchannel-logout", content=f"logout_token={token}", headers=FORM)
        assert replayed.status_code == 400
        assert client.post("/backchannel-logout", content="logout_token=a.b.c", headers=FORM).status_code == 400
    assert revocations(backend, "accepted") == 1
    assert revocations(backend, "invalid") == 2


@pytest.fixture
def introspection(fake_keycloak: FakeKeycloak) -> Introspection:
    return Introspection(fake_keycloak)


def test_introspection_calls_are_counted_by_answer_and_an_inactive_token_as_a_refusal(
    fake_keycloak: FakeKeycloak,
    settings_values: dict[str, Any],
    signing_key: SigningKey,
    introspection: Introspection,
    backend: Backend,
) -> None:
    settings = KeycloakSettings(**settings_values, introspection_cache_seconds=0)
    auth = KeycloakAuth(settings, http_client=fake_keycloak.client(), metrics=backend.metrics)
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/active")
    async def active(user: Principal = Depends(auth.require_active())) -> dict[str, str]:
        return {"subject": user.subject}

    live, ended = mint(user_claims(), signing_key), mint(user_claims(), signing_key)
    introspection.answers[live] = {"active": True, "sub": "0b5c6e1a-user-mario"}
    with TestClient(app) as client:
        assert client.get("/active", headers={"Authorization": f"Bearer {live}"}).status_code == 200
        assert client.get("/active", headers={"Authorization": f"Bearer {ended}"}).status_code == 401
        introspection.status = 500
        assert client.get("/active", headers={"Authorization": f"Bearer {live}"}).status_code == 503
    for result in ("active", "inactive", "error"):
        assert backend.read("fastapi_kc_introspection_requests_total", result=result) == 1, result
    assert backend.read("fastapi_kc_authentications_total", outcome="refused", reason="inactive") == 1
