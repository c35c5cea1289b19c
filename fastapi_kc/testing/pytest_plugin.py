"""pytest fixtures for testing apps that use fastapi_kc, registered under the name `fastapi_kc`.

The distribution declares this module as a `pytest11` entry point, so pytest loads it wherever
fastapi-kc is installed (its `testing` extra brings a pytest it supports). It holds
fixtures only: no hooks and nothing autouse, so a test that asks for none of them runs as if it
were absent. Where plugins are not loaded automatically (`PYTEST_DISABLE_PLUGIN_AUTOLOAD`), add
`pytest_plugins = ["fastapi_kc.testing.pytest_plugin"]` to the top `conftest.py`;
`-p no:fastapi_kc` switches it off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from fastapi_kc import KeycloakAuth, ServiceTokenClient
from fastapi_kc.testing import MockKeycloak


@pytest.fixture
def mock_keycloak() -> Iterator[Callable[..., MockKeycloak]]:
    """A factory: `mock_keycloak(auth, *token_clients)` attaches a `MockKeycloak` until the test ends.

    Call it before the app starts (before `TestClient(app)`, or in a fixture the client fixture
    depends on): teardown runs in reverse order, so the app stops before the mock is detached.
    """
    with ExitStack() as stack:

        def attach(auth: KeycloakAuth, *token_clients: ServiceTokenClient, **options: Any) -> MockKeycloak:
            return stack.enter_context(MockKeycloak(auth, *token_clients, **options))

        yield attach
