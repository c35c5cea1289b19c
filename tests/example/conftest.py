"""A real Keycloak and the example app served by uvicorn, for the live and browser tests.

Keycloak comes from `keycloak_dev`, like in `make demo`; it starts only when a test asks for it,
and a failure to start fails those tests with the reason (never a skip). The app must listen on
port 8000: the realm's `web` client accepts Swagger UI's redirects only there.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from example_app.main import create_app
from fastapi_kc import KeycloakSettings
from keycloak_dev import REALM_FILE, KeycloakServer

APP_PORT = 8000


def realm() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REALM_FILE.read_text())
    return data


def password_of(username: str) -> str:
    user = next(u for u in realm()["users"] if u["username"] == username)
    return str(next(c["value"] for c in user["credentials"] if c["type"] == "password"))


def secret_of(client_id: str) -> str:
    return str(next(c["secret"] for c in realm()["clients"] if c["clientId"] == client_id))


@dataclass
class ServedApp:
    keycloak: KeycloakServer
    url: str  # the public address browsers use: http://localhost:8000

    def user_token(self, username: str) -> str:
        """A token of `username` logged in through the public client `web` (password grant)."""
        response = self.keycloak.token("web", username=username, password=password_of(username))
        return str(response["access_token"])

    def service_token(self, client_id: str) -> str:
        return str(self.keycloak.token(client_id, client_secret=secret_of(client_id))["access_token"])


@pytest.fixture(scope="session")
def served_app(keycloak: KeycloakServer) -> Iterator[ServedApp]:
    with socket.socket() as probe:
        # SO_REUSEADDR like uvicorn: connections of an earlier run in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", APP_PORT))
        except OSError:
            pytest.fail(
                f"port {APP_PORT} is in use (a `make demo` or a benchmark still running?): the realm's `web` "
                f"client lets Swagger UI log in only from http://localhost:{APP_PORT}"
            )
    settings = KeycloakSettings(
        public_url=keycloak.public_url,
        internal_url=keycloak.internal_url,
        realm=realm()["realm"],
        audience="api",
        client_id="shop-api",
        client_secret=secret_of("shop-api"),
    )
    app = create_app(settings, notify_url=f"http://127.0.0.1:{APP_PORT}", login_client_secret=secret_of("shop-bff"))
    config = uvicorn.Config(app, host="127.0.0.1", port=APP_PORT, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="example-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the example app did not start under uvicorn (see the captured log)")
        time.sleep(0.05)
    yield ServedApp(keycloak, f"http://localhost:{APP_PORT}")
    server.should_exit = True
    thread.join(timeout=15)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell that a test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
