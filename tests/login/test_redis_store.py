"""Login sessions in a real Redis (Debian's redis-server): shared by replicas, and 503 while it is down."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakSettings
from fastapi_kc.login.redis import RedisSessionStore
from tests.login.conftest import APP_URL, build_app, log_in, same_site_headers
from tests.login.fake import LoginKeycloak
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.redis_server import RedisServer
from tests.support.tokens import SigningKey


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


def test_values_round_trip_and_redis_expires_them(redis_server: RedisServer) -> None:
    async def scenario() -> tuple[object, object, int]:
        store = RedisSessionStore(redis_server.url)
        await store.save("k", {"csrf_token": "x", "expires_at": 1.5}, ttl=60)
        loaded = await store.load("k")
        await store.delete("k")
        gone = await store.load("k")
        await store.save("k2", {}, ttl=30)
        await store.aclose()
        return loaded, gone, redis.Redis.from_url(redis_server.url).pttl("fastapi_kc:login:k2")

    loaded, gone, pttl = asyncio.run(scenario())
    assert loaded == {"csrf_token": "x", "expires_at": 1.5}
    assert gone is None
    assert 0 < pttl <= 30_000


def test_a_session_started_on_one_replica_is_used_and_ended_on_another(
    redis_server: RedisServer, settings: KeycloakSettings, signing_key: SigningKey
) -> None:
    login_keycloak = LoginKeycloak(signing_key)
    one = build_app(
        settings, FakeKeycloak(keys=[signing_key]), login_keycloak, store=RedisSessionStore(redis_server.url)
    )
    two = build_app(
        settings, FakeKeycloak(keys=[signing_key]), login_keycloak, store=RedisSessionStore(redis_server.url)
    )
    with (
        TestClient(one.app, base_url=APP_URL, follow_redirects=False) as first,
        TestClient(two.app, base_url=APP_URL, follow_redirects=False) as second,
    ):
        log_in(first, one)
        second.cookies.set("fastapi_kc_session", first.cookies["fastapi_kc_session"])  # the same browser
        assert second.get("/me").json() == {"username": "mario"}
        token = second.get("/csrf").json()["csrf_token"]
        out = second.post("/auth/logout", data={"csrf_token": token}, headers={"Origin": APP_URL})
        assert out.status_code == 303
        assert first.get("/me").status_code == 401


def test_while_redis_is_down_cookie_requests_get_503_and_bearer_requests_go_on(
    redis_server: RedisServer, settings: KeycloakSettings, signing_key: SigningKey
) -> None:
    from tests.support.tokens import mint, user_claims

    shop = build_app(settings, FakeKeycloak(keys=[signing_key]), LoginKeycloak(signing_key),
                     store=RedisSessionStore(redis_server.url, timeout_seconds=0.5))  # fmt: skip
    with TestClient(shop.app, base_url=APP_URL, follow_redirects=False) as browser:
        log_in(browser, shop)
        headers = same_site_headers(browser)
        redis_server.stop()
        refused = browser.get("/me")
        assert refused.status_code == 503
        assert refused.json()["detail"] == "the login session store cannot be reached: retry shortly"
        assert (
            browser.post("/auth/logout", data={"csrf_token": headers["X-CSRF-Token"]}, headers=headers).status_code
            == 503
        )
        assert browser.get("/auth/login").status_code == 503
        bearer = {"Authorization": f"Bearer {mint(user_claims(), signing_key)}"}
        assert browser.get("/me", headers=bearer).status_code == 200
