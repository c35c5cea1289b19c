"""Revocation stores: how a logout received by one replica reaches every replica.

Every request is checked against a local, in-memory view (`KeycloakAuth.revocations`) with no
network round trip. A store feeds that view:

- `MemoryRevocationStore` (`KEYCLOAK_REVOCATION_STORE=memory`, the default): one process.
- `RedisRevocationStore` (`KEYCLOAK_REVOCATION_STORE=redis://...`, extra `fastapi-kc[redis]`):
  revocations are written to a Redis sorted set (read at start-up and after a reconnect) and
  published on a channel every replica subscribes to. Importing this package does not import
  `redis`; `fastapi_kc.revocation.redis` does.

See docs/scaling.md for the design, its costs, and what happens on partitions and restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi_kc._errors import ConfigurationError
from fastapi_kc._revocations import Revocation, RevocationList
from fastapi_kc._settings import KeycloakSettings
from fastapi_kc.revocation._store import MemoryRevocationStore, RevocationStore, State, StoreUnavailableError

if TYPE_CHECKING:
    from fastapi_kc.revocation.redis import RedisRevocationStore

__all__ = [
    "MemoryRevocationStore",
    "RedisRevocationStore",
    "Revocation",
    "RevocationList",
    "RevocationStore",
    "State",
    "StoreUnavailableError",
    "store_from_settings",
]


def store_from_settings(settings: KeycloakSettings, *, clock: Callable[[], float]) -> RevocationStore:
    """The store `settings.revocation_store` names (not started).

    Raises:
        ConfigurationError: a Redis URL, but the `redis` package is not installed.
    """
    if settings.revocation_store == "memory":
        return MemoryRevocationStore(clock=clock)
    try:
        from fastapi_kc.revocation.redis import RedisRevocationStore
    except ImportError as exc:
        raise ConfigurationError(
            "KEYCLOAK_REVOCATION_STORE names a Redis URL, but the redis package is not installed: "
            "pip install 'fastapi-kc[redis]'"
        ) from exc
    return RedisRevocationStore.from_settings(settings, clock=clock)


def __getattr__(name: str) -> Any:
    if name == "RedisRevocationStore":  # imported on first use only: it needs the `redis` package
        from fastapi_kc.revocation.redis import RedisRevocationStore

        return RedisRevocationStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
