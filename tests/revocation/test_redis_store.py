"""Revocations shared through a real Redis (Debian's redis-server), between replicas that share
nothing else: a logout received by one is refused by all, by a replica started later too,
and Redis outages at start and while running behave as documented."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakSettings
from tests.revocation.support import build_app, eventually, logout_token
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.redis_server import RedisServer
from tests.support.tokens import SigningKey, mint, user_claims

ROUTE = "/backchannel-logout"


@pytest.fixture
def replica(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], redis_server: RedisServer
) -> Callable[..., TestClient]:
    """`with replica() as client:` one more process-like replica sharing only Redis and Keycloak."""

    @contextmanager
    def start(**overrides: object) -> Iterator[TestClient]:
        values = {**settings_values, "logout_audience": "web", "revocation_store": redis_server.url, **overrides}
        auth = KeycloakAuth(KeycloakSettings(**values), http_client=fake_keycloak.client())
        with TestClient(build_app(auth)) as client:
            client.app_state = auth  # type: ignore[attr-defined]
            yield client

    return start  # type: ignore[return-value]


def status(client: TestClient, token: str) -> int:
    return client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_logout_received_by_one_replica_is_refused_by_the_other_within_a_second(
    replica: Callable[..., TestClient], signing_key: SigningKey
) -> None:
    mario = mint(user_claims(sid="session-of-mario"), signing_key)
    luigi = mint(user_claims(sid="session-of-luigi", sub="0b5c6e1a-user-luigi"), signing_key)
    with replica() as a, replica() as b:
        assert status(a, mario) == status(b, mario) == 200

        assert a.post(ROUTE, data={"logout_token": logout_token(signing_key)}).status_code == 200

        assert status(a, mario) == 401  # the receiving replica at once
        assert eventually(lambda: status(b, mario) == 401)
        assert status(a, luigi) == status(b, luigi) == 200


def test_a_replica_started_after_the_logout_refuses_too(
    replica: Callable[..., TestClient], signing_key: SigningKey
) -> None:
    mario = mint(user_claims(sid="session-of-mario"), signing_key)
    with replica() as a:
        assert a.post(ROUTE, data={"logout_token": logout_token(signing_key, sub=None)}).status_code == 200
    with replica() as later:
        assert status(later, mario) == 401


def test_a_logout_token_replayed_to_another_replica_is_refused(
    replica: Callable[..., TestClient], signing_key: SigningKey
) -> None:
    token = logout_token(signing_key)
    with replica() as a, replica() as b:
        assert a.post(ROUTE, data={"logout_token": token}).status_code == 200
        assert b.post(ROUTE, data={"logout_token": token}).status_code == 400


def test_redis_unreachable_at_start_is_a_configuration_error_naming_the_url_without_its_password(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], redis_server: RedisServer
) -> None:
    redis_server.stop()
    url = f"redis://:hunter2@127.0.0.1:{redis_server.port}/0"
    settings = KeycloakSettings(**{**settings_values, "revocation_store": url})
    auth = KeycloakAuth(settings, http_client=fake_keycloak.client())
    with pytest.raises(ConfigurationError) as refused, TestClient(build_app_without_router(auth)):
        pass
    assert f"redis://:***@127.0.0.1:{redis_server.port}/0" in str(refused.value)
    assert "hunter2" not in str(refused.value)
    assert "KEYCLOAK_REVOCATION_STORE" in str(refused.value)


def build_app_without_router(auth: KeycloakAuth) -> object:
    from fastapi import FastAPI

    return FastAPI(lifespan=auth.lifespan)


def test_while_redis_is_down_known_revocations_apply_and_the_state_says_so(
    replica: Callable[..., TestClient],
    redis_server: RedisServer,
    signing_key: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mario = mint(user_claims(sid="session-of-mario"), signing_key)
    luigi = mint(user_claims(sid="session-of-luigi", sub="0b5c6e1a-user-luigi"), signing_key)
    with replica() as a, replica() as b:
        auth_a: KeycloakAuth = a.app_state  # type: ignore[attr-defined]
        auth_b: KeycloakAuth = b.app_state  # type: ignore[attr-defined]
        assert auth_a.revocation_state == "connected"
        assert a.post(ROUTE, data={"logout_token": logout_token(signing_key)}).status_code == 200
        assert eventually(lambda: status(b, mario) == 401)

        with caplog.at_level(logging.WARNING, logger="fastapi_kc"):
            redis_server.stop()
            assert eventually(lambda: auth_b.revocation_state == "reconnecting", within=10)
        assert "unreachable" in caplog.text
        assert status(b, mario) == 401  # what is known keeps applying
        assert status(b, luigi) == 200  # and the service keeps serving

        # A logout received meanwhile applies here at once, and is shared once Redis is back.
        luigi_logout = logout_token(signing_key, sid="session-of-luigi", sub="0b5c6e1a-user-luigi")
        assert a.post(ROUTE, data={"logout_token": luigi_logout}).status_code == 503
        assert status(a, luigi) == 401
        redis_server.start()
        assert eventually(lambda: auth_a.revocation_state == auth_b.revocation_state == "connected", within=10)
        assert eventually(lambda: status(b, luigi) == 401, within=3)


def test_with_a_staleness_limit_requests_are_refused_once_redis_is_down_that_long(
    replica: Callable[..., TestClient], redis_server: RedisServer, signing_key: SigningKey
) -> None:
    luigi = mint(user_claims(sid="session-of-luigi", sub="0b5c6e1a-user-luigi"), signing_key)
    with replica(revocation_max_stale_seconds=0.5) as b:
        auth_b: KeycloakAuth = b.app_state  # type: ignore[attr-defined]
        redis_server.stop()
        assert eventually(lambda: auth_b.revocation_state == "stale", within=10)
        refused = b.get("/me", headers={"Authorization": f"Bearer {luigi}"})
        assert refused.status_code == 503
        assert "temporarily_unavailable" in refused.headers["www-authenticate"]
        redis_server.start()
        assert eventually(lambda: auth_b.revocation_state == "connected", within=10)
        assert status(b, luigi) == 200


def test_a_replica_without_a_logout_route_can_still_be_revoked_through_redis(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], redis_server: RedisServer
) -> None:
    """Other replicas' logouts arrive through Redis: its WebSockets must stay watched (guarded)."""
    import asyncio

    async def may_revoke(store: str) -> bool:
        values = {**settings_values, "revocation_store": store}
        async with KeycloakAuth(KeycloakSettings(**values), http_client=fake_keycloak.client()) as auth:
            return auth.revocations.may_revoke

    assert (asyncio.run(may_revoke("memory")), asyncio.run(may_revoke(redis_server.url))) == (False, True)
