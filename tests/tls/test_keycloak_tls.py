"""The real Keycloak over HTTPS: untrusted without the CA bundle, everything works with it.

`KeycloakAuth` and `ServiceTokenClient` build their own HTTP clients here (nothing injected),
exactly as in production.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fastapi_kc import (
    AuthError,
    ConfigurationError,
    KeycloakAuth,
    KeycloakSettings,
    Principal,
    ServiceTokenClient,
    TokenRequestError,
)
from tests.support.outcomes import outcome
from tests.tls.conftest import HttpsKeycloak

pytestmark = pytest.mark.keycloak


def settings(kc: HttpsKeycloak, **overrides: Any) -> KeycloakSettings:
    values: dict[str, Any] = {
        "public_url": kc.server.public_url,
        "internal_url": kc.https_url,
        "realm": "demo",
        "audience": "api",
        "client_id": "shop-api",
        "client_secret": "shop-api-secret",
    }
    values.update(overrides)
    return KeycloakSettings(**values)


def verify(settings: KeycloakSettings, *tokens: str) -> list[Principal | AuthError] | ConfigurationError:
    async def main() -> list[Principal | AuthError] | ConfigurationError:
        try:
            async with KeycloakAuth(settings) as auth:
                return [await outcome(auth, token) for token in tokens]
        except ConfigurationError as exc:
            return exc

    return asyncio.run(main())


def user_token(kc: HttpsKeycloak) -> str:
    return str(kc.server.token("web", username="mario", password="mario-password")["access_token"])


def test_with_the_ca_bundle_real_user_and_service_tokens_verify(https_keycloak: HttpsKeycloak) -> None:
    kc = https_keycloak
    service = str(kc.server.token("shop-api", client_secret="shop-api-secret")["access_token"])
    results = verify(settings(kc, ca_bundle=kc.ca_bundle), user_token(kc), service)
    assert isinstance(results, list)
    mario, shop = results
    assert isinstance(mario, Principal)
    assert mario.username == "mario"
    assert isinstance(shop, Principal)
    assert shop.is_service_account


def test_without_the_ca_bundle_start_up_fails_naming_the_untrusted_certificate(https_keycloak: HttpsKeycloak) -> None:
    result = verify(settings(https_keycloak))
    assert isinstance(result, ConfigurationError)
    message = str(result)
    assert f"{https_keycloak.https_url}/realms/demo/" in message
    assert "the TLS certificate is not trusted" in message
    assert "certificate verify failed" in message
    assert "KEYCLOAK_CA_BUNDLE" in message


def test_a_bundle_of_another_ca_is_refused(https_keycloak: HttpsKeycloak) -> None:
    result = verify(settings(https_keycloak, ca_bundle=https_keycloak.other_ca_bundle))
    assert isinstance(result, ConfigurationError)
    assert "the TLS certificate is not trusted" in str(result)


def test_the_certificate_is_checked_against_the_host_name(https_keycloak: HttpsKeycloak) -> None:
    # The certificate names localhost only; 127.0.0.1 is the same server under another name.
    kc = https_keycloak
    result = verify(settings(kc, internal_url=f"https://127.0.0.1:{kc.https_port}", ca_bundle=kc.ca_bundle))
    assert isinstance(result, ConfigurationError)
    assert "127.0.0.1" in str(result)


def test_service_tokens_over_https_need_the_bundle_too(https_keycloak: HttpsKeycloak) -> None:
    kc = https_keycloak

    async def get(settings: KeycloakSettings) -> str | TokenRequestError:
        try:
            async with ServiceTokenClient(settings) as client:
                return await client.get_token()
        except TokenRequestError as exc:
            return exc

    trusted = asyncio.run(get(settings(kc, ca_bundle=kc.ca_bundle)))
    assert isinstance(trusted, str)
    assert trusted.count(".") == 2
    untrusted = asyncio.run(get(settings(kc)))
    assert isinstance(untrusted, TokenRequestError)
    assert "TLS certificate is not trusted" in str(untrusted) and "KEYCLOAK_CA_BUNDLE" in str(untrusted)
