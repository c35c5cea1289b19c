"""KeycloakSettings: built from KEYCLOAK_* variables, checked when built, never printing secrets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from fastapi_kc import ConfigurationError, KeycloakSettings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("KEYCLOAK_PUBLIC_URL", "https://auth.example.test")
    monkeypatch.setenv("KEYCLOAK_REALM", "shop")
    monkeypatch.setenv("KEYCLOAK_AUDIENCE", "api")
    return monkeypatch


def test_settings_are_read_from_prefixed_environment_variables(env: pytest.MonkeyPatch) -> None:
    env.setenv("KEYCLOAK_INTERNAL_URL", "http://keycloak:8080")
    settings = KeycloakSettings()
    assert settings.issuer == "https://auth.example.test/realms/shop"
    assert settings.jwks_url == "http://keycloak:8080/realms/shop/protocol/openid-connect/certs"
    assert settings.token_url == "http://keycloak:8080/realms/shop/protocol/openid-connect/token"
    assert settings.discovery_url == "http://keycloak:8080/realms/shop/.well-known/openid-configuration"


def test_browser_urls_use_the_public_url(env: pytest.MonkeyPatch) -> None:
    env.setenv("KEYCLOAK_INTERNAL_URL", "http://keycloak:8080")
    settings = KeycloakSettings()
    assert settings.authorization_url == "https://auth.example.test/realms/shop/protocol/openid-connect/auth"
    assert settings.browser_token_url == "https://auth.example.test/realms/shop/protocol/openid-connect/token"


def test_internal_url_defaults_to_the_public_url(env: pytest.MonkeyPatch) -> None:
    assert KeycloakSettings().internal_url == "https://auth.example.test"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("api", ("api",)), ("api,orders", ("api", "orders")), (" api , orders ", ("api", "orders")),
     ('["api", "orders"]', ("api", "orders"))],
)  # fmt: skip
def test_audience_accepts_a_comma_separated_list_or_a_json_array(
    env: pytest.MonkeyPatch, value: str, expected: tuple[str, ...]
) -> None:
    env.setenv("KEYCLOAK_AUDIENCE", value)
    assert KeycloakSettings().audience == expected


@pytest.mark.parametrize("value", ["", ",", "[]", "[1, 2]", "[not json"])
def test_empty_or_malformed_audience_is_refused(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("KEYCLOAK_AUDIENCE", value)
    with pytest.raises(ConfigurationError, match="KEYCLOAK_AUDIENCE"):
        KeycloakSettings()


@pytest.mark.parametrize("variable", ["KEYCLOAK_PUBLIC_URL", "KEYCLOAK_REALM", "KEYCLOAK_AUDIENCE"])
def test_a_missing_required_variable_is_named(env: pytest.MonkeyPatch, variable: str) -> None:
    env.delenv(variable)
    with pytest.raises(ConfigurationError, match=f"{variable} .*required but not set"):
        KeycloakSettings()


def test_there_is_no_localhost_default(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as info:
        KeycloakSettings()
    assert "localhost" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["auth.example.test", "ftp://auth.example.test", "https://", "https://user:pw@auth.example.test",
            "https://auth.example.test/?x=1", "https://auth.example.test:99999"],
)  # fmt: skip
def test_a_malformed_url_is_refused_naming_the_variable(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("KEYCLOAK_PUBLIC_URL", url)
    with pytest.raises(ConfigurationError, match="KEYCLOAK_PUBLIC_URL"):
        KeycloakSettings()


def test_trailing_slashes_are_normalised(env: pytest.MonkeyPatch) -> None:
    env.setenv("KEYCLOAK_PUBLIC_URL", "https://auth.example.test/")
    assert KeycloakSettings().issuer == "https://auth.example.test/realms/shop"


@pytest.mark.parametrize("value", ["/auth", "auth", "/auth/"])
def test_legacy_auth_path_is_normalised(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("KEYCLOAK_AUTH_PATH", value)
    assert KeycloakSettings().issuer == "https://auth.example.test/auth/realms/shop"


@pytest.mark.parametrize("value", ["none", "None", "HS256", "hs512", "RS256,HS384", "XS999"])
def test_algorithms_outside_the_asymmetric_set_are_refused(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("KEYCLOAK_ALGORITHMS", value)
    with pytest.raises(ConfigurationError, match="KEYCLOAK_ALGORITHMS"):
        KeycloakSettings()


def test_the_default_algorithm_allow_list_is_rs256_only(env: pytest.MonkeyPatch) -> None:
    assert KeycloakSettings().algorithms == ("RS256",)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("KEYCLOAK_LEEWAY_SECONDS", "3600"), ("KEYCLOAK_LEEWAY_SECONDS", "-1"),
     ("KEYCLOAK_JWKS_COOLDOWN_SECONDS", "-5"), ("KEYCLOAK_HTTP_TIMEOUT_SECONDS", "0"),
     ("KEYCLOAK_MAX_TOKEN_BYTES", "10"), ("KEYCLOAK_REALM", "a/b")],
)  # fmt: skip
def test_out_of_range_values_are_refused_naming_the_variable(
    env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    env.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        KeycloakSettings()


def test_ca_bundle_must_exist(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("KEYCLOAK_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError, match="KEYCLOAK_CA_BUNDLE"):
        KeycloakSettings()


def test_there_is_no_setting_that_disables_tls_verification() -> None:
    assert not [name for name in KeycloakSettings.model_fields if "verify" in name or "insecure" in name]


def test_unknown_keyword_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="verify_tls"):
        KeycloakSettings(public_url="https://a.test", realm="r", audience="api", verify_tls=False)


def test_the_client_secret_is_never_printed(env: pytest.MonkeyPatch) -> None:
    env.setenv("KEYCLOAK_CLIENT_SECRET", "Zq9-very-secret")
    settings = KeycloakSettings()
    assert "Zq9-very-secret" not in repr(settings) + str(settings) + str(settings.model_dump())
    assert settings.client_secret is not None and settings.client_secret.get_secret_value() == "Zq9-very-secret"


def test_a_bad_secret_value_is_not_echoed_in_the_error(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as info:
        KeycloakSettings(client_secret=["Zq9-very-secret"])
    assert "KEYCLOAK_CLIENT_SECRET" in str(info.value)
    assert "Zq9-very-secret" not in str(info.value)


def test_settings_are_immutable(env: pytest.MonkeyPatch) -> None:
    settings = KeycloakSettings()
    with pytest.raises(Exception, match="frozen"):
        settings.realm = "other"  # type: ignore[misc]


def test_plain_http_on_a_public_host_is_logged_as_a_warning(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env.setenv("KEYCLOAK_PUBLIC_URL", "http://auth.example.test")
    with caplog.at_level(logging.WARNING, logger="fastapi_kc"):
        KeycloakSettings()
    assert any("KEYCLOAK_PUBLIC_URL uses plain http" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("url", ["http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080"])
def test_plain_http_on_loopback_is_not_warned_about(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, url: str
) -> None:
    env.setenv("KEYCLOAK_PUBLIC_URL", url)
    with caplog.at_level(logging.WARNING, logger="fastapi_kc"):
        KeycloakSettings()
    assert not caplog.records


def test_a_misspelt_variable_is_named_in_a_warning(env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    env.setenv("KEYCLOAK_AUDIANCE", "api")
    with caplog.at_level(logging.WARNING, logger="fastapi_kc"):
        KeycloakSettings()
    assert any("KEYCLOAK_AUDIANCE is not a fastapi_kc setting" in r.getMessage() for r in caplog.records)


class AppSettings(BaseSettings):
    """An application's own settings, holding the Keycloak ones under `keycloak`."""

    model_config = SettingsConfigDict(env_nested_delimiter="__")

    keycloak: KeycloakSettings
    shop_name: str = "shop"


def test_settings_nested_in_an_applications_settings_read_its_nested_variables(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("KEYCLOAK__PUBLIC_URL", "https://auth.example.test")
    monkeypatch.setenv("KEYCLOAK__INTERNAL_URL", "https://keycloak.internal:8443")
    monkeypatch.setenv("KEYCLOAK__REALM", "shop")
    monkeypatch.setenv("KEYCLOAK__AUDIENCE", "api,orders")
    with caplog.at_level(logging.WARNING, logger="fastapi_kc"):
        settings = AppSettings().keycloak
    assert settings.issuer == "https://auth.example.test/realms/shop"
    assert settings.audience == ("api", "orders")
    assert settings.jwks_url == "https://keycloak.internal:8443/realms/shop/protocol/openid-connect/certs"
    assert not caplog.records, "no misspelt-variable warning for the nested names"


def test_nested_settings_are_still_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYCLOAK__PUBLIC_URL", "https://auth.example.test")
    monkeypatch.setenv("KEYCLOAK__REALM", "shop")
    monkeypatch.setenv("KEYCLOAK__AUDIENCE", "api")
    monkeypatch.setenv("KEYCLOAK__ALGORITHMS", "HS256")
    with pytest.raises(ValidationError, match="HS256 cannot be allowed"):
        AppSettings()
