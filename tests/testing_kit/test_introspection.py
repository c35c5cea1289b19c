"""The mock's introspection endpoint (RFC 7662, as Keycloak 26.5 answers), and the client
credentials it checks: `auth.require_active()` and `introspect_every_request` work under the
mock, a session ended at the mock is refused by them, and a wrong client secret is refused."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey

from fastapi_kc import KeycloakAuth, KeycloakSettings, Principal, ServiceTokenClient, TokenRequestError
from fastapi_kc._client_auth import ASSERTION_TYPE, ClientAuthenticator
from fastapi_kc.testing import MockKeycloak
from tests.testing_kit.conftest import NetworkGuard, settings_with

LONG_SECRET = "a-secret-long-enough-for-hs256-0123456789"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def active_app(auth: KeycloakAuth) -> FastAPI:
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/active")
    async def active(user: Principal = Depends(auth.require_active())) -> dict[str, Any]:
        return {"username": user.username}

    return app


def introspect(keycloak: MockKeycloak, settings: KeycloakSettings, token: str, secret: str) -> httpx.Response:
    async def ask() -> httpx.Response:
        async with httpx.AsyncClient(transport=keycloak.transport) as client:
            return await client.post(settings.introspection_url, data={"token": token}, auth=("billing", secret))

    return asyncio.run(ask())


def test_require_active_accepts_live_tokens_and_ending_one_session_leaves_the_others(
    settings: KeycloakSettings, network: NetworkGuard
) -> None:
    auth = KeycloakAuth(settings)
    with MockKeycloak(auth) as keycloak, TestClient(active_app(auth)) as client:
        mario, mario_elsewhere, luigi = (
            keycloak.token(username="mario"),
            keycloak.token(username="mario"),
            keycloak.token(username="luigi"),
        )
        keycloak.end_session(mario)
        answers = [client.get("/active", headers=bearer(token)) for token in (mario_elsewhere, luigi)]
    assert [answer.json() for answer in answers] == [{"username": "mario"}, {"username": "luigi"}]
    assert network.attempts == []


def test_require_active_refuses_a_token_of_an_ended_session_with_401(settings: KeycloakSettings) -> None:
    # The introspection cache is off, so the second request asks the mock again.
    auth = KeycloakAuth(settings_with(introspection_cache_seconds=0))
    with MockKeycloak(auth) as keycloak, TestClient(active_app(auth)) as client:
        token = keycloak.token(username="mario")
        assert client.get("/active", headers=bearer(token)).status_code == 200
        keycloak.end_session(token)
        refused = client.get("/active", headers=bearer(token))
    assert refused.status_code == 401
    assert 'error_description="token is not active"' in refused.headers["www-authenticate"]


def test_every_request_introspected_gets_the_token_s_claims_from_the_mock(settings: KeycloakSettings) -> None:
    auth = KeycloakAuth(settings_with(introspect_every_request=True))

    async def main() -> Principal:
        async with MockKeycloak(auth) as keycloak, auth:
            return await auth.verify(keycloak.token(username="toad", realm_roles=["customer"]))

    principal = asyncio.run(main())
    assert (principal.username, principal.has_role("customer")) == ("toad", True)


def test_an_active_token_is_answered_with_its_claims_and_keycloak_s_answer_members(
    settings: KeycloakSettings,
) -> None:
    keycloak = MockKeycloak(KeycloakAuth(settings))
    token = keycloak.token(username="mario", realm_roles=["customer"])
    answer = introspect(keycloak, settings, token, "billing-secret").json()
    assert answer["active"] is True
    assert (answer["username"], answer["client_id"], answer["token_type"]) == ("mario", answer["azp"], "Bearer")
    assert "customer" in answer["realm_access"]["roles"]


@pytest.mark.parametrize("kind", ["foreign", "expired", "garbled", "ended"])
def test_a_token_that_is_not_active_is_answered_with_active_false_only(settings: KeycloakSettings, kind: str) -> None:
    keycloak = MockKeycloak(KeycloakAuth(settings))
    token = {
        "foreign": MockKeycloak(KeycloakAuth(settings)).token(),  # another realm key
        "expired": keycloak.token(expires_in=-1),
        "garbled": "not.a.token",
        "ended": keycloak.token(),
    }[kind]
    if kind == "ended":
        keycloak.end_session(token)
    answer = introspect(keycloak, settings, token, "billing-secret")
    assert (answer.status_code, answer.json()) == (200, {"active": False})


def test_a_wrong_client_secret_is_refused_at_the_introspection_endpoint(settings: KeycloakSettings) -> None:
    keycloak = MockKeycloak(KeycloakAuth(settings))
    answer = introspect(keycloak, settings, keycloak.token(), "not-the-secret")
    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid_request", "error_description": "Authentication failed."}


def test_with_a_secret_keycloak_no_longer_takes_require_active_fails_closed_with_503(
    settings: KeycloakSettings,
) -> None:
    auth = KeycloakAuth(settings)
    with MockKeycloak(auth) as keycloak, TestClient(active_app(auth)) as client:
        keycloak.service_account("billing", client_secret="regenerated-in-keycloak")
        refused = client.get("/active", headers=bearer(keycloak.token()))
    assert refused.status_code == 503
    assert "temporarily_unavailable" in refused.headers["www-authenticate"]


def test_a_client_assertion_signed_with_another_secret_is_refused(settings: KeycloakSettings) -> None:
    right = settings_with(client_auth_method="client_secret_jwt", client_secret=LONG_SECRET)
    wrong = settings_with(client_auth_method="client_secret_jwt", client_secret=LONG_SECRET.upper())
    keycloak = MockKeycloak(KeycloakAuth(right), ServiceTokenClient(right))

    async def status(signer: KeycloakSettings) -> int:
        credentials = ClientAuthenticator(signer).credentials()
        form = {"grant_type": "client_credentials", **credentials.form}
        async with httpx.AsyncClient(transport=keycloak.transport) as client:
            return (await client.post(right.token_url, data=form, headers=credentials.headers)).status_code

    assert (asyncio.run(status(right)), asyncio.run(status(wrong))) == (200, 401)


def test_a_service_token_client_with_a_wrong_secret_is_told_so(settings: KeycloakSettings) -> None:
    auth = KeycloakAuth(settings)
    keycloak = MockKeycloak(auth)
    keycloak.service_account("reports", client_secret="reports-secret")
    tokens = ServiceTokenClient(settings_with(client_id="reports", client_secret="not-the-reports-secret"))

    async def main() -> None:
        with tokens.use_http_client(httpx.AsyncClient(transport=keycloak.transport)):
            async with tokens:
                await tokens.get_token()

    with pytest.raises(TokenRequestError) as refused:
        asyncio.run(main())
    assert (refused.value.status_code, refused.value.error) == (401, "unauthorized_client")


@pytest.mark.parametrize(
    ("audience", "lifetime", "status"),
    [
        pytest.param("issuer", 60, 200, id="for-the-realm"),
        pytest.param("token_url", 60, 200, id="for-the-token-endpoint"),
        pytest.param("issuer", -1, 401, id="expired"),
        pytest.param("https://elsewhere.example/realms/other", 60, 401, id="for-another-server"),
    ],
)
def test_a_client_assertion_must_be_for_this_realm_and_unexpired(audience: str, lifetime: int, status: int) -> None:
    right = settings_with(client_auth_method="client_secret_jwt", client_secret=LONG_SECRET)
    keycloak = MockKeycloak(KeycloakAuth(right), ServiceTokenClient(right))
    now = int(time.time())
    aud = {"issuer": right.issuer, "token_url": right.token_url}.get(audience, audience)
    claims = {
        "iss": right.client_id,
        "sub": right.client_id,
        "aud": aud,
        "jti": "j-1",
        "iat": now,
        "exp": now + lifetime,
    }
    assertion = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(LONG_SECRET))
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}

    async def ask() -> int:
        async with httpx.AsyncClient(transport=keycloak.transport) as client:
            return (await client.post(right.token_url, data=form)).status_code

    assert asyncio.run(ask()) == status
