"""The public API is a tested artifact."""

from __future__ import annotations

import fastapi_kc

API_MD_NAMES = {
    "KeycloakSettings", "KeycloakAuth", "KeycloakMiddleware", "Principal", "ServiceTokenClient",
    "AuthError", "ConfigurationError",
}  # fmt: skip


def test_every_name_of_the_api_document_is_exported() -> None:
    assert set(fastapi_kc.__all__) >= API_MD_NAMES


def test_all_is_sorted_and_every_entry_exists() -> None:
    assert fastapi_kc.__all__ == sorted(fastapi_kc.__all__)
    assert all(hasattr(fastapi_kc, name) for name in fastapi_kc.__all__)


def test_every_public_name_is_documented() -> None:
    assert [name for name in fastapi_kc.__all__ if not getattr(fastapi_kc, name).__doc__] == []


def test_the_package_ships_its_type_information() -> None:
    from importlib.resources import files

    assert files("fastapi_kc").joinpath("py.typed").is_file()
