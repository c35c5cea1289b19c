from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, KeycloakSettings
from tests.revocation.support import build_app
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.redis_server import RedisServer


@pytest.fixture
def auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, object]) -> KeycloakAuth:
    settings = KeycloakSettings(**{**settings_values, "logout_audience": "web"})
    return KeycloakAuth(settings, http_client=fake_keycloak.client())


@pytest.fixture
def client(auth: KeycloakAuth) -> Iterator[TestClient]:
    with TestClient(build_app(auth)) as client:
        yield client


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real Redis of its own for one test (tests stop and restart it)."""
    server = RedisServer().start()
    yield server
    server.close()
