"""Step-up authentication (RFC 9470): `require_acr` and `require_auth_age` through a real app.

A refusal is a 401 whose challenge says what to ask Keycloak for: `acr_values` for a too weak
login, `max_age` for a too old one. The clock of the auth age check is injected.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from fastapi_kc import InsufficientUserAuthenticationError, KeycloakAuth, KeycloakSettings, Principal
from fastapi_kc._responses import challenge
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims

NOW = int(time.time())


@pytest.fixture
def client(fake_keycloak: FakeKeycloak, settings_values: dict[str, object]) -> Iterator[TestClient]:
    auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client(), clock=lambda: NOW)
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/gold")
    async def gold(principal: Principal = Depends(auth.require_acr("gold"))) -> dict[str, Any]:
        return {"acr": principal.acr}

    @app.get("/gold-or-platinum")
    async def strong(principal: Principal = Depends(auth.require_acr("gold", "platinum"))) -> dict[str, Any]:
        return {"acr": principal.acr}

    @app.get("/recent")
    async def recent(principal: Principal = Depends(auth.require_auth_age(300))) -> dict[str, Any]:
        return {"auth_time": principal.claims["auth_time"]}

    with TestClient(app) as test_client:
        yield test_client


def bearer(signing_key: SigningKey, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(user_claims(iat=NOW, exp=NOW + 300, **claims), signing_key)}"}


def test_a_token_at_the_required_level_passes(client: TestClient, signing_key: SigningKey) -> None:
    assert client.get("/gold", headers=bearer(signing_key, acr="gold")).json() == {"acr": "gold"}


def test_a_weaker_level_is_refused_with_the_rfc_9470_challenge(client: TestClient, signing_key: SigningKey) -> None:
    response = client.get("/gold", headers=bearer(signing_key, acr="silver"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="demo", error="insufficient_user_authentication", '
        'error_description="requires authentication level gold", acr_values="gold"'
    )
    assert response.json() == {"detail": "requires authentication level gold"}


def test_every_listed_level_is_accepted_and_named_in_order_of_preference(
    client: TestClient, signing_key: SigningKey
) -> None:
    assert client.get("/gold-or-platinum", headers=bearer(signing_key, acr="platinum")).status_code == 200
    refused = client.get("/gold-or-platinum", headers=bearer(signing_key, acr="1"))
    assert refused.headers["WWW-Authenticate"].endswith('acr_values="gold platinum"')


def test_levels_are_names_not_numbers_compared(client: TestClient, signing_key: SigningKey) -> None:
    """Keycloak's numeric levels are not ordered here: "3" is not "gold"."""
    assert client.get("/gold", headers=bearer(signing_key, acr="3")).status_code == 401


def test_a_token_without_acr_is_refused(client: TestClient, signing_key: SigningKey) -> None:
    assert client.get("/gold", headers=bearer(signing_key, acr=None)).status_code == 401


def test_a_recent_login_passes(client: TestClient, signing_key: SigningKey) -> None:
    assert client.get("/recent", headers=bearer(signing_key, auth_time=NOW - 300)).status_code == 200


def test_an_older_login_is_refused_with_max_age(client: TestClient, signing_key: SigningKey) -> None:
    response = client.get("/recent", headers=bearer(signing_key, auth_time=NOW - 301))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="demo", error="insufficient_user_authentication", '
        'error_description="requires an authentication within the last 300 seconds", max_age="300"'
    )


@pytest.mark.parametrize("auth_time", [None, "yesterday", True], ids=["missing", "a string", "a boolean"])
def test_a_token_that_cannot_show_its_login_time_is_refused(
    client: TestClient, signing_key: SigningKey, auth_time: object
) -> None:
    response = client.get("/recent", headers=bearer(signing_key, auth_time=auth_time))
    assert response.status_code == 401 and 'max_age="300"' in response.headers["WWW-Authenticate"]


def test_without_a_token_the_plain_challenge_comes_first(client: TestClient) -> None:
    response = client.get("/gold")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Bearer realm="demo"'


@pytest.mark.parametrize("levels", [(), ("",), ("gold silver",)], ids=["none", "empty", "with a space"])
def test_a_route_needs_usable_levels(fake_keycloak: FakeKeycloak, settings_values, levels: tuple[str, ...]) -> None:
    auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())
    with pytest.raises(ValueError, match="require_acr"):
        auth.require_acr(*levels)


@pytest.mark.parametrize("seconds", [-1, 1.5, True], ids=["negative", "fractional", "a boolean"])
def test_a_route_needs_a_whole_number_of_seconds(fake_keycloak: FakeKeycloak, settings_values, seconds: Any) -> None:
    auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())
    with pytest.raises(ValueError, match="require_auth_age"):
        auth.require_auth_age(seconds)


def test_acr_values_cannot_break_out_of_the_header() -> None:
    error = InsufficientUserAuthenticationError("x", acr_values=('gold"', "x\r\nSet-Cookie: a=b"))
    assert '"gold?' in challenge(error, "demo") and "\r" not in challenge(error, "demo")
