"""Metrics and health against the real Keycloak: real tokens, a real key rotation, a real restart."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, Principal
from fastapi_kc.metrics import PrometheusMetrics
from keycloak_dev import REALM_FILE, KeycloakServer
from tests.integration.conftest import settings_for
from tests.integration.test_rotation_and_outage import add_rsa_key, mario
from tests.support.clock import ShiftedClock

REALM = "observed"


@pytest.fixture(scope="module")
def observed_realm(keycloak: KeycloakServer) -> Iterator[str]:
    """A copy of the demo realm whose keys this module rotates, leaving every other test alone."""
    realm = json.loads(REALM_FILE.read_text())
    realm["realm"] = REALM
    keycloak.admin("POST", "", realm)
    yield REALM
    keycloak.admin("DELETE", REALM)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def test_metrics_count_real_tokens_a_refusal_and_a_key_rotation(keycloak: KeycloakServer, observed_realm: str) -> None:
    registry = CollectorRegistry()
    settings = settings_for(keycloak, realm=observed_realm, jwks_cooldown_seconds=0)
    auth = KeycloakAuth(settings, metrics=PrometheusMetrics(registry))
    app = FastAPI()

    @app.get("/me")
    async def me(user: Principal = Depends(auth.principal)) -> dict[str, Any]:
        return {"username": user.username}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry).decode())

    app.add_middleware(KeycloakMiddleware, auth=auth, public_paths=["/metrics"])
    with TestClient(app) as client:
        token = mario(keycloak, observed_realm)
        # A token is remembered from its second sighting on: the third request is the cache hit.
        for _ in range(3):
            assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        other_realm = mario(keycloak)  # a genuine token of the realm `demo`: its key is not this realm's
        assert client.get("/me", headers={"Authorization": f"Bearer {other_realm}"}).status_code == 401
        add_rsa_key(keycloak, observed_realm)
        rotated = mario(keycloak, observed_realm)
        assert client.get("/me", headers={"Authorization": f"Bearer {rotated}"}).status_code == 200
        scraped = client.get("/metrics")
    assert scraped.status_code == 200 and "fastapi_kc_authentications_total" in scraped.text
    assert sample(registry, "fastapi_kc_authentications_total", outcome="accepted", reason="") == 4
    assert sample(registry, "fastapi_kc_token_cache_hits_total") == 1
    assert sample(registry, "fastapi_kc_token_cache_misses_total") == 4
    assert sample(registry, "fastapi_kc_verification_seconds_count") == 4
    refused = {
        family_sample.labels["reason"]
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for family_sample in family.samples
        if family_sample.name == "fastapi_kc_authentications_total" and family_sample.labels["outcome"] == "refused"
    }
    assert refused == {"unknown_kid"}
    assert sample(registry, "fastapi_kc_authentications_total", outcome="refused", reason="unknown_kid") == 1
    # At start, for the unknown kid of the other realm (cooldown 0), and for the rotated key.
    assert sample(registry, "fastapi_kc_key_set_fetches_total", result="ok") == 3


async def until(check: Any, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.1)


def test_health_through_a_keycloak_restart(keycloak: KeycloakServer) -> None:
    clock = ShiftedClock()
    registry = CollectorRegistry()
    settings = settings_for(keycloak, jwks_cooldown_seconds=0, jwks_max_age_seconds=60, jwks_max_stale_seconds=600)

    async def main() -> None:
        async with KeycloakAuth(settings, clock=clock, metrics=PrometheusMetrics(registry)) as auth:
            health = auth.health()
            assert health.ready and health.keys >= 1 and health.last_fetch_error is None
            token = mario(keycloak)
            assert isinstance(await auth.verify(token), Principal)

            await asyncio.to_thread(keycloak.stop)
            clock.offset += 61  # a refresh is due: the probe starts it, Keycloak does not answer
            await until(lambda: auth.health().last_fetch_error is not None)
            health = auth.health()
            assert health.ready and health.stale_keys  # the stale-key window: known keys keep serving
            assert "cannot reach Keycloak" in (health.last_fetch_error or "")
            assert isinstance(await auth.verify(token), Principal)

            clock.offset += 600  # past jwks_max_stale_seconds
            health = auth.health()
            assert not health.ready
            assert any("KEYCLOAK_JWKS_MAX_STALE_SECONDS" in problem for problem in health.problems)
            assert (sample(registry, "fastapi_kc_key_set_age_seconds") or 0) > 600

            await asyncio.to_thread(keycloak.start)
            await until(lambda: auth.health().ready)
            health = auth.health()
            assert health.last_fetch_error is None and not health.stale_keys and health.problems == ()
            assert (sample(registry, "fastapi_kc_key_set_fetches_total", result="error") or 0) >= 1

    asyncio.run(main())
