"""Readiness through the life of a service: before start, ready, Keycloak down (the stale-key
window, then too old), Keycloak back. The fake Keycloak, a fake clock, and the health router."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakMiddleware, KeycloakSettings
from fastapi_kc.revocation import MemoryRevocationStore
from tests.support.clock import Clock
from tests.support.fake_keycloak import FakeKeycloak

MAX_AGE, MAX_STALE = 600, 3600


@pytest.fixture
def auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any], clock: Clock) -> KeycloakAuth:
    settings = KeycloakSettings(
        **settings_values, jwks_cooldown_seconds=0, jwks_max_age_seconds=MAX_AGE, jwks_max_stale_seconds=MAX_STALE
    )
    return KeycloakAuth(settings, http_client=fake_keycloak.client(), clock=clock)


def build_app(auth: KeycloakAuth, **router: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(auth.health_router(**router))
    app.add_middleware(KeycloakMiddleware, auth=auth)  # starts auth with the app; the probe needs no token
    return app


@pytest.fixture
def client(auth: KeycloakAuth) -> Iterator[TestClient]:
    with TestClient(build_app(auth, details=True)) as client:
        yield client


def probe_until(client: TestClient, done: Any, attempts: int = 200) -> dict[str, Any]:
    """Probe until `done(report)`: a refresh a probe starts runs in the background."""
    for _ in range(attempts):
        report: dict[str, Any] = client.get("/health/ready").json()
        if done(report):
            return report
        time.sleep(0.01)
    raise AssertionError(f"never reached: {report}")


def test_before_start_the_service_is_not_ready_and_says_why(auth: KeycloakAuth) -> None:
    health = auth.health()
    assert (health.ready, health.started, health.key_set_age_seconds) == (False, False, None)
    assert "not started" in health.problems[0] and "lifespan" in health.problems[0]


def test_a_started_service_is_ready_with_fresh_keys(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    report = response.json()
    assert report["ready"] and report["started"] and report["keys"] == 1
    assert report["key_set_age_seconds"] == 0 and not report["stale_keys"]
    assert report["last_fetch_error"] is None and report["problems"] == []
    assert report["revocation_store"] == "memory"


def test_through_an_outage_keys_serve_stale_then_too_old_and_all_recovers(
    client: TestClient, fake_keycloak: FakeKeycloak, clock: Clock
) -> None:
    fake_keycloak.down = True
    clock.now += MAX_AGE + 1  # a refresh is due: the probe starts it, it fails
    report = probe_until(client, lambda r: r["last_fetch_error"] is not None)
    assert report["ready"] and report["stale_keys"]  # the stale-key window: known keys still serve
    assert "cannot reach Keycloak" in report["last_fetch_error"]
    assert any("KEYCLOAK_JWKS_MAX_AGE_SECONDS" in problem for problem in report["problems"])

    clock.now += MAX_STALE  # past the window: every token would get a 503
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert not response.json()["ready"]
    assert any("KEYCLOAK_JWKS_MAX_STALE_SECONDS" in problem for problem in response.json()["problems"])

    fake_keycloak.down = False
    report = probe_until(client, lambda r: r["ready"])
    assert report["key_set_age_seconds"] == 0 and report["last_fetch_error"] is None and report["problems"] == []


def test_without_details_the_probe_answers_only_the_verdict(auth: KeycloakAuth, fake_keycloak: FakeKeycloak) -> None:
    with TestClient(build_app(auth)) as client:
        assert client.get("/health/ready").json() == {"ready": True}


def test_the_probe_path_needs_no_token_and_must_be_a_path(auth: KeycloakAuth) -> None:
    auth.health_router("/probes/ready")
    assert "/probes/ready" in auth.public_paths
    with pytest.raises(ConfigurationError, match="must start with /"):
        auth.health_router("ready")


def test_a_revocation_store_past_its_staleness_makes_the_service_not_ready(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]
) -> None:
    store = MemoryRevocationStore(clock=time.time)
    auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client(), revocation_store=store)
    with TestClient(build_app(auth, details=True)) as client:
        store.state = "stale"  # what the Redis store reports past revocation_max_stale_seconds
        report = client.get("/health/ready").json()
        assert not report["ready"] and report["revocation_store"] == "stale"
        store.state = "reconnecting"
        report = client.get("/health/ready").json()
        assert report["ready"] and any("unreachable" in problem for problem in report["problems"])
