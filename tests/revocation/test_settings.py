"""The revocation settings: checked when built, and a Redis password never printed."""

from __future__ import annotations

import pytest

from fastapi_kc import ConfigurationError, KeycloakSettings
from fastapi_kc._settings import redact_url


@pytest.mark.parametrize("value", ["memory", "redis://localhost:6379/0", "rediss://:pw@redis.internal:6380"])
def test_the_store_is_memory_or_a_redis_url(settings_values: dict[str, object], value: str) -> None:
    assert KeycloakSettings(**{**settings_values, "revocation_store": value}).revocation_store == value


def test_memory_is_the_default(settings_values: dict[str, object]) -> None:
    assert KeycloakSettings(**settings_values).revocation_store == "memory"


@pytest.mark.parametrize("value", ["postgres://db", "redis://", "mem", "http://redis:6379"])
def test_anything_else_is_refused_naming_the_variable(settings_values: dict[str, object], value: str) -> None:
    with pytest.raises(ConfigurationError, match="KEYCLOAK_REVOCATION_STORE"):
        KeycloakSettings(**{**settings_values, "revocation_store": value})


def test_a_redis_password_is_never_printed(settings_values: dict[str, object]) -> None:
    settings = KeycloakSettings(**{**settings_values, "revocation_store": "redis://:hunter2@redis:6379/0"})
    assert "hunter2" not in repr(settings)
    with pytest.raises(ConfigurationError) as refused:
        KeycloakSettings(**{**settings_values, "revocation_store": "http://user:hunter2@redis:6379"})
    assert "hunter2" not in str(refused.value)


def test_redacted_urls_keep_what_helps() -> None:
    assert redact_url("redis://:hunter2@redis:6379/0") == "redis://:***@redis:6379/0"
    assert redact_url("rediss://app:hunter2@redis:6380") == "rediss://app:***@redis:6380"
    assert redact_url("redis://redis:6379") == "redis://redis:6379"
