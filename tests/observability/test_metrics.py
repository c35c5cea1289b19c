"""Each metric, driven by real requests through a FastAPI app and read back from each backend.

Keycloak is the fake one (`tests/support/fake_keycloak.py`); tokens are real RS256 tokens.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fastapi_kc import (
    KeycloakAuth,
    KeycloakMiddleware,
    KeycloakSettings,
    ServiceTokenClient,
    TokenRequestError,
)
from tests.observability.conftest import Backend, build_app
from tests.support.clock import Clock
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims

Headers = list[tuple[str, str]]
PARTNER_ISSUER = "https://partner-auth.example.test/realms/demo"


def bearer(token: str) -> Headers:
    return [("Authorization", f"Bearer {token}")]


@pytest.fixture
def auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any], backend: Backend, clock: Clock) -> KeycloakAuth:
    settings = KeycloakSettings(**{**settings_values, "jwks_cooldown_seconds": 0})
    return KeycloakAuth(settings, http_client=fake_keycloak.client(), metrics=backend.metrics, clock=clock)


@pytest.fixture
def client(auth: KeycloakAuth) -> Iterator[TestClient]:
    with TestClient(build_app(auth)) as client:
        yield client


def authentications(backend: Backend, outcome: str, reason: str = "") -> float | None:
    return backend.read("fastapi_kc_authentications_total", outcome=outcome, reason=reason)


# --- authentications, the cache, the verification time ------------------------------------------------


@pytest.mark.parametrize("middleware", [False, True], ids=["dependency", "middleware"])
def test_an_accepted_request_counts_as_accepted_a_cache_miss_and_one_timed_verification(
    auth: KeycloakAuth, backend: Backend, signing_key: SigningKey, middleware: bool
) -> None:
    with TestClient(build_app(auth, middleware=middleware)) as client:
        assert client.get("/me", headers=bearer(mint(user_claims(), signing_key))).status_code == 200
    assert authentications(backend, "accepted") == 1
    assert backend.read("fastapi_kc_token_cache_misses_total") == 1
    assert backend.read("fastapi_kc_token_cache_hits_total") == 0
    assert backend.read("fastapi_kc_verification_seconds_count") == 1
    assert (backend.read("fastapi_kc_verification_seconds_sum") or 0) > 0


def test_a_repeated_token_is_answered_from_the_cache_and_not_timed_again(
    client: TestClient, backend: Backend, signing_key: SigningKey
) -> None:
    token = mint(user_claims(), signing_key)
    for _ in range(4):  # verified on its first two sightings, then answered from the cache
        assert client.get("/me", headers=bearer(token)).status_code == 200
    assert backend.read("fastapi_kc_token_cache_hits_total") == 2
    assert backend.read("fastapi_kc_token_cache_misses_total") == 2
    assert backend.read("fastapi_kc_verification_seconds_count") == 2
    assert authentications(backend, "accepted") == 4


def _claims_token(**claims: Any) -> Callable[[SigningKey], Headers]:
    return lambda key: bearer(mint(user_claims(**claims), key))


def _header_token(**header: Any) -> Callable[[SigningKey], Headers]:
    return lambda key: bearer(mint(user_claims(), key, header))


# reason -> (path, headers made from the realm's key); every refusal reason the library has.
REFUSALS: dict[str, tuple[str, Callable[[SigningKey], Headers]]] = {
    "no_token": ("/me", lambda key: []),
    "other_scheme": ("/me", lambda key: [("Authorization", "Basic bWFyaW86cGFzc3dvcmQ=")]),
    "header_repeated": ("/me", lambda key: bearer("a.b.c") + bearer("d.e.f")),
    "header_malformed": ("/me", lambda key: [("Authorization", "Bearer a,b")]),
    "malformed": ("/me", lambda key: bearer("not.a.jws")),
    "too_large": ("/me", lambda key: bearer("a" * 100_000)),
    "algorithm": ("/me", _header_token(alg="HS256")),
    "kid": ("/me", _header_token(kid=None)),
    "crit": ("/me", _header_token(crit=["exp"])),
    "unknown_kid": ("/me", lambda key: bearer(mint(user_claims(), SigningKey.rsa("kid-never-published")))),
    "signature": ("/me", lambda key: bearer(mint(user_claims(), SigningKey.rsa(key.kid)))),
    "expired": ("/me", _claims_token(exp=1)),
    "not_yet_valid": ("/me", _claims_token(nbf=int(time.time()) + 3600)),
    "issued_in_future": ("/me", _claims_token(iat=int(time.time()) + 3600)),
    "issuer": ("/me", _claims_token(iss="https://evil.example.test/realms/demo")),
    "audience": ("/me", _claims_token(aud="another-api")),
    "token_type": ("/me", _claims_token(typ="ID")),
    "subject": ("/me", _claims_token(sub=None)),
    "bound_token": ("/me", _claims_token(cnf={"jkt": "thumbprint"})),
    "forbidden": ("/admin", _claims_token()),
}


@pytest.mark.parametrize("reason", sorted(REFUSALS))
def test_each_refusal_counts_once_under_its_reason(
    client: TestClient, backend: Backend, signing_key: SigningKey, reason: str
) -> None:
    path, make_headers = REFUSALS[reason]
    assert client.get(path, headers=make_headers(signing_key)).status_code in (401, 403)
    assert authentications(backend, "refused", reason) == 1
    if reason != "forbidden":  # a role check refuses a token that was accepted first
        assert authentications(backend, "accepted") == 0


def test_a_key_keycloak_cannot_serve_counts_as_keys_unavailable_and_as_a_failed_fetch(
    client: TestClient, backend: Backend, fake_keycloak: FakeKeycloak
) -> None:
    fake_keycloak.down = True
    unknown = mint(user_claims(), SigningKey.rsa("kid-not-yet-published"))
    assert client.get("/me", headers=bearer(unknown)).status_code == 503
    assert authentications(backend, "refused", "keys_unavailable") == 1
    assert backend.read("fastapi_kc_key_set_fetches_total", result="error") == 1


def test_a_request_when_authentication_cannot_start_counts_as_not_started(
    auth: KeycloakAuth, backend: Backend, fake_keycloak: FakeKeycloak
) -> None:
    fake_keycloak.down = True  # no lifespan ran: the first request tries to start, and fails
    with TestClient(build_app(auth, lifespan=False)) as client:
        assert client.get("/me", headers=bearer("a.b.c")).status_code == 503
    assert authentications(backend, "refused", "not_started") == 1


# --- the key set ---------------------------------------------------------------------------------------


def test_a_key_rotation_counts_one_more_successful_fetch(
    client: TestClient, backend: Backend, fake_keycloak: FakeKeycloak
) -> None:
    assert backend.read("fastapi_kc_key_set_fetches_total", result="ok") == 1  # at start
    rotated = SigningKey.rsa("kid-rotated")
    fake_keycloak.keys.append(rotated)
    assert client.get("/me", headers=bearer(mint(user_claims(), rotated))).status_code == 200
    assert backend.read("fastapi_kc_key_set_fetches_total", result="ok") == 2
    assert backend.read("fastapi_kc_key_set_fetches_total", result="error") == 0


def test_the_key_set_age_is_the_time_since_the_last_successful_fetch(
    auth: KeycloakAuth, backend: Backend, clock: Clock
) -> None:
    assert backend.read("fastapi_kc_key_set_age_seconds") is None  # never loaded: no value, not a lie
    with TestClient(build_app(auth)):
        clock.now += 42
        assert backend.read("fastapi_kc_key_set_age_seconds") == pytest.approx(42)


# --- service tokens, revocations, introspection ---------------------------------------------------------


def test_service_token_requests_count_by_result(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, Any], backend: Backend
) -> None:
    async def main() -> None:
        settings = KeycloakSettings(**settings_values)
        async with ServiceTokenClient(settings, http_client=fake_keycloak.client(), metrics=backend.metrics) as tokens:
            await tokens.get_token()
        wrong = KeycloakSettings(**{**settings_values, "client_secret": "wrong"})
        async with ServiceTokenClient(wrong, http_client=fake_keycloak.client(), metrics=backend.metrics) as tokens:
            with pytest.raises(TokenRequestError):
                await tokens.get_token()
        fake_keycloak.down = True
        async with ServiceTokenClient(
            settings, http_client=fake_keycloak.client(), metrics=backend.metrics, max_attempts=1
        ) as tokens:
            with pytest.raises(TokenRequestError):
                await tokens.get_token()

    asyncio.run(main())
    assert backend.read("fastapi_kc_service_token_requests_total", result="ok") == 1
    assert backend.read("fastapi_kc_service_token_requests_total", result="refused") == 1
    assert backend.read("fastapi_kc_service_token_requests_total", result="error") == 1


def test_revocations_and_introspection_calls_are_counted_by_result(backend: Backend) -> None:
    backend.metrics.revocation_received("accepted")
    backend.metrics.revocation_received("replayed")
    backend.metrics.introspection_request("active")
    assert backend.read("fastapi_kc_revocations_received_total", result="accepted") == 1
    assert backend.read("fastapi_kc_revocations_received_total", result="replayed") == 1
    assert backend.read("fastapi_kc_introspection_requests_total", result="active") == 1


def test_an_issuer_no_auth_of_a_several_realm_middleware_trusts_counts_once(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, Any], backend: Backend
) -> None:
    shop = KeycloakAuth(
        KeycloakSettings(**settings_values), http_client=fake_keycloak.client(), metrics=backend.metrics
    )
    partner_keycloak = FakeKeycloak(keys=[SigningKey.rsa("kid-partner")], discovery_issuer=PARTNER_ISSUER)
    partner_values = {**settings_values, "public_url": "https://partner-auth.example.test"}
    partner = KeycloakAuth(KeycloakSettings(**partner_values), http_client=partner_keycloak.client())
    app = FastAPI()

    @app.get("/me")
    async def me() -> dict[str, str]:
        return {}

    app.add_middleware(KeycloakMiddleware, auth=[shop, partner])
    stranger = mint(user_claims(iss="https://stranger.example.test/realms/demo"), SigningKey.rsa("kid-stranger"))
    with TestClient(app) as client:
        assert client.get("/me", headers=bearer(stranger)).status_code == 401
    assert authentications(backend, "refused", "issuer") == 1
