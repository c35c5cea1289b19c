"""The one place that knows how to build and start ``fastapi_kc`` objects for the benchmarks."""

from __future__ import annotations

from typing import Any

from benchmarks import common


def available() -> bool:
    try:
        from fastapi_kc import KeycloakAuth  # noqa: F401
    except ImportError:
        return False
    return True


def version() -> str:
    from importlib.metadata import version as dist_version

    try:
        return dist_version("fastapi-kc")
    except Exception:
        return "?"


def settings(internal_url: str, **overrides: Any) -> Any:
    from fastapi_kc import KeycloakSettings

    return KeycloakSettings(**common.settings_kwargs(internal_url, **overrides))


def make_auth(
    http_client: Any, internal_url: str = "http://keycloak.internal.test", metrics: Any = None, **overrides: Any
) -> Any:
    from fastapi_kc import KeycloakAuth

    extra = {} if metrics is None else {"metrics": metrics}
    if http_client is None:
        return KeycloakAuth(settings(internal_url, **overrides), **extra)
    return KeycloakAuth(settings(internal_url, **overrides), http_client=http_client, **extra)


async def start_auth(http_client: Any, internal_url: str = "http://keycloak.internal.test", **overrides: Any) -> Any:
    auth = make_auth(http_client, internal_url, **overrides)
    await auth.__aenter__()
    return auth


async def stop_auth(auth: Any) -> None:
    await auth.__aexit__(None, None, None)
