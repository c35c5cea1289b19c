"""Tokens the real Keycloak would not vouch for are refused exactly as in production."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, KeycloakSettings
from fastapi_kc.testing import MockKeycloak
from tests.testing_kit.apps import with_dependencies, with_middleware
from tests.testing_kit.conftest import NetworkGuard


@pytest.fixture(params=[with_middleware, with_dependencies], ids=["middleware", "dependencies"])
def served(
    request: pytest.FixtureRequest, settings: KeycloakSettings, network: NetworkGuard
) -> Iterator[tuple[MockKeycloak, TestClient]]:
    build: Callable[[KeycloakAuth], FastAPI] = request.param
    auth = KeycloakAuth(settings)
    with MockKeycloak(auth) as keycloak, TestClient(build(auth)) as client:
        yield keycloak, client
    assert network.attempts == []


def refusal(client: TestClient, token: str) -> tuple[int, str]:
    response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.headers.get("WWW-Authenticate", "")


def test_a_valid_token_passes(served: tuple[MockKeycloak, TestClient]) -> None:
    keycloak, client = served
    assert client.get("/me", headers={"Authorization": f"Bearer {keycloak.token()}"}).status_code == 200


def test_an_expired_token_is_401_invalid_token(served: tuple[MockKeycloak, TestClient]) -> None:
    keycloak, client = served
    status, challenge = refusal(client, keycloak.token(expires_in=-60))
    assert status == 401
    assert 'error="invalid_token"' in challenge and "expired" in challenge


def test_a_token_for_another_api_is_401_invalid_token(served: tuple[MockKeycloak, TestClient]) -> None:
    keycloak, client = served
    status, challenge = refusal(client, keycloak.token(audience="another-api"))
    assert status == 401
    assert 'error="invalid_token"' in challenge and "audience" in challenge


def test_a_token_of_another_mock_is_401_invalid_token(
    served: tuple[MockKeycloak, TestClient], settings: KeycloakSettings
) -> None:
    _, client = served
    stranger = MockKeycloak(KeycloakAuth(settings))  # same realm, same issuer, another key
    status, challenge = refusal(client, stranger.token())
    assert status == 401
    assert 'error="invalid_token"' in challenge and "kid" in challenge


def test_a_token_of_an_earlier_mock_of_the_same_auth_is_refused(settings: KeycloakSettings) -> None:
    auth = KeycloakAuth(settings)
    app = with_middleware(auth)
    with MockKeycloak(auth) as first, TestClient(app) as client:
        earlier = first.token()
        assert refusal(client, earlier)[0] == 200  # and now remembered as verified
    with MockKeycloak(auth), TestClient(app) as client:
        assert refusal(client, earlier)[0] == 401


def test_a_token_within_the_leeway_still_passes_as_in_production(served: tuple[MockKeycloak, TestClient]) -> None:
    keycloak, client = served
    assert refusal(client, keycloak.token(expires_in=-5))[0] == 200  # KEYCLOAK_LEEWAY_SECONDS is 30


def test_an_id_token_shaped_token_is_refused(served: tuple[MockKeycloak, TestClient]) -> None:
    keycloak, client = served
    status, challenge = refusal(client, keycloak.token(claims={"typ": "ID"}))
    assert (status, 'error="invalid_token"' in challenge) == (401, True)


def test_missing_roles_are_403_insufficient_scope(served: tuple[MockKeycloak, TestClient]) -> None:
    keycloak, client = served
    headers = {"Authorization": f"Bearer {keycloak.token(client_roles={'orders-api': ['orders:write']})}"}
    response = client.get("/orders", headers=headers)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    allowed = {"Authorization": f"Bearer {keycloak.token(client_roles={'orders-api': ['orders:read']})}"}
    assert client.get("/orders", headers=allowed).json() == [1]
