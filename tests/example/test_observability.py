"""The example app's probes and metrics: `/health/ready` and `/metrics` are public, and count what happened."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from example_app.main import create_app
from fastapi_kc import KeycloakSettings
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims


@pytest.fixture
def client(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> Iterator[TestClient]:
    app = create_app(KeycloakSettings(**settings_values), keycloak_client=fake_keycloak.client())
    with TestClient(app) as test_client:
        yield test_client


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_readiness_is_public_and_ready_once_started(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert (response.status_code, response.json()) == (200, {"ready": True})


def test_metrics_are_public_and_count_the_apps_requests(client: TestClient, signing_key: SigningKey) -> None:
    token = mint(user_claims(), signing_key)
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/admin", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert client.get("/me").status_code == 401
    counted = samples(client)
    authentications = "fastapi_kc_authentications_total"
    assert counted[(authentications, (("outcome", "accepted"), ("reason", "")))] == 2
    assert counted[(authentications, (("outcome", "refused"), ("reason", "forbidden")))] == 1
    assert counted[(authentications, (("outcome", "refused"), ("reason", "no_token")))] == 1
    assert counted[("fastapi_kc_key_set_fetches_total", (("result", "ok"),))] == 1
    client.get("/health/ready")
    # Scrapes and probes of public paths are not refusals: still the one request without a token.
    assert samples(client)[(authentications, (("outcome", "refused"), ("reason", "no_token")))] == 1
