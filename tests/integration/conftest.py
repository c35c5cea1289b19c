"""A real Keycloak for the whole test session, started from `keycloak_dev` (never skipped).

If Keycloak cannot be fetched or started, every test here fails with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fastapi_kc import AuthError, KeycloakAuth, KeycloakSettings, Principal
from keycloak_dev import KeycloakServer

PASSWORDS = {"mario": "mario-password", "luigi": "luigi-password", "admin": "admin-password"}
SECRETS = {"shop-api": "shop-api-secret", "rogue": "rogue-secret"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in item.nodeid or "tests\\integration\\" in item.nodeid:
            item.add_marker(pytest.mark.keycloak)


def settings_for(keycloak: KeycloakServer, **overrides: Any) -> KeycloakSettings:
    values: dict[str, Any] = {
        "public_url": keycloak.public_url,
        "internal_url": keycloak.internal_url,
        "realm": "demo",
        "audience": "api",
        "client_id": "shop-api",
        "client_secret": SECRETS["shop-api"],
    }
    values.update(overrides)
    return KeycloakSettings(**values)


@pytest.fixture
def settings(keycloak: KeycloakServer) -> KeycloakSettings:
    return settings_for(keycloak)


def user_token(keycloak: KeycloakServer, username: str, client_id: str = "web", **extra: str) -> str:
    secret = SECRETS.get(client_id)
    response = keycloak.token(client_id, username=username, password=PASSWORDS[username], client_secret=secret, **extra)
    return str(response["access_token"])


def service_token(keycloak: KeycloakServer, client_id: str) -> str:
    return str(keycloak.token(client_id, client_secret=SECRETS[client_id])["access_token"])


def claims_of(token: str) -> dict[str, Any]:
    """The payload as Keycloak wrote it (not verified: for asserting what Keycloak really sends)."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def verify(settings: KeycloakSettings, *tokens: str) -> list[Principal | AuthError]:
    """Each token's outcome through one started KeycloakAuth."""

    async def main() -> list[Principal | AuthError]:
        results: list[Principal | AuthError] = []
        async with KeycloakAuth(settings) as auth:
            for token in tokens:
                try:
                    results.append(await auth.verify(token))
                except AuthError as exc:
                    results.append(exc)
        return results

    return asyncio.run(main())


class CountingProxy:
    """A reverse proxy on 127.0.0.1 in front of Keycloak that counts requests by method and path.

    Counting at the wire is the honest way to show "one request to Keycloak".
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.hits: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def count(self, method: str, suffix: str) -> int:
        with self._lock:
            return sum(n for (m, path), n in self.hits.items() if m == method and path.endswith(suffix))

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                with proxy._lock:
                    proxy.hits[(self.command, self.path.split("?")[0])] += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                request = urllib.request.Request(  # noqa: S310 - the local Keycloak
                    proxy.upstream + self.path, data=body, method=self.command, headers=headers
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                        status, data, ctype = response.status, response.read(), response.headers.get("Content-Type")
                except urllib.error.HTTPError as exc:
                    status, data, ctype = exc.code, exc.read(), exc.headers.get("Content-Type")
                self.send_response(status)
                self.send_header("Content-Type", ctype or "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _forward
            do_POST = _forward

        return Handler


@pytest.fixture
def proxy(keycloak: KeycloakServer) -> Iterator[CountingProxy]:
    with CountingProxy(keycloak.internal_url) as counting:
        yield counting
