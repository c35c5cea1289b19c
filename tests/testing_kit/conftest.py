"""The kit is tested as users use it: their settings point at a Keycloak that cannot be reached,
and a socket guard records (and refuses) every attempt to resolve a name or open a connection.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from fastapi_kc import KeycloakSettings

PUBLIC_URL = "https://auth.example.com"
INTERNAL_URL = "http://keycloak.invalid:8080"  # `.invalid` never resolves (RFC 2606)


class NetworkGuard:
    """Every DNS lookup and connect of the process, refused and recorded while a test runs."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def refuse(self, what: str, error: type[OSError]) -> Callable[..., Any]:
        def blocked(*args: Any, **kwargs: Any) -> Any:
            self.attempts.append(f"{what} {args[1] if what.startswith('socket.') else args[0]}")
            raise error(111, f"{what} blocked by the test's network guard")

        return blocked


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    guard = NetworkGuard()
    monkeypatch.setattr(socket, "getaddrinfo", guard.refuse("getaddrinfo", socket.gaierror))
    monkeypatch.setattr(socket, "create_connection", guard.refuse("create_connection", ConnectionRefusedError))
    monkeypatch.setattr(socket.socket, "connect", guard.refuse("socket.connect", ConnectionRefusedError))
    monkeypatch.setattr(socket.socket, "connect_ex", guard.refuse("socket.connect_ex", ConnectionRefusedError))
    return guard


SETTINGS: dict[str, Any] = {
    "public_url": PUBLIC_URL,
    "internal_url": INTERNAL_URL,
    "realm": "shop",
    "audience": "orders-api",
    "client_id": "billing",
    "client_secret": "billing-secret",
}


def settings_with(**overrides: Any) -> KeycloakSettings:
    return KeycloakSettings(**{**SETTINGS, **overrides})


@pytest.fixture
def settings() -> KeycloakSettings:
    return settings_with()
