"""Field notes §5 with the real token endpoint: one request, however many callers."""

from __future__ import annotations

import asyncio

import pytest

from fastapi_kc import KeycloakAuth, Principal, ServiceTokenClient, TokenRequestError
from keycloak_dev import KeycloakServer
from tests.integration.conftest import CountingProxy, settings_for

TOKEN_PATH = "/realms/demo/protocol/openid-connect/token"


def test_a_hundred_concurrent_callers_cause_one_token_request(keycloak: KeycloakServer, proxy: CountingProxy) -> None:
    settings = settings_for(keycloak, internal_url=proxy.url)

    async def main() -> list[str]:
        async with ServiceTokenClient(settings) as client:
            return await asyncio.gather(*(client.get_token() for _ in range(100)))

    tokens = asyncio.run(main())
    assert len(set(tokens)) == 1
    assert proxy.count("POST", TOKEN_PATH) == 1


def test_the_service_token_is_accepted_by_the_api_as_shop_apis_service_account(keycloak: KeycloakServer) -> None:
    settings = settings_for(keycloak)

    async def main() -> Principal:
        async with ServiceTokenClient(settings) as client, KeycloakAuth(settings) as auth:
            return await auth.verify(await client.get_token())

    principal = asyncio.run(main())
    assert principal.is_service_account and principal.client_id == "shop-api"


def test_a_wrong_secret_is_reported_with_keycloaks_status_and_error_but_not_the_secret(
    keycloak: KeycloakServer,
) -> None:
    settings = settings_for(keycloak, client_secret="Zq9-not-the-secret-7Tx")

    async def main() -> str:
        async with ServiceTokenClient(settings) as client:
            return await client.get_token()

    with pytest.raises(TokenRequestError) as info:
        asyncio.run(main())
    assert info.value.status_code == 401 and info.value.error == "unauthorized_client"
    assert "KEYCLOAK_CLIENT_SECRET" in str(info.value)
    assert "Zq9-not-the-secret-7Tx" not in str(info.value) + repr(info.value)


def test_a_public_client_cannot_get_service_tokens_and_is_told_why(keycloak: KeycloakServer) -> None:
    settings = settings_for(keycloak, client_id="web", client_secret="none")

    async def main() -> str:
        async with ServiceTokenClient(settings) as client:
            return await client.get_token()

    with pytest.raises(TokenRequestError) as info:
        asyncio.run(main())
    assert info.value.status_code in (400, 401)
    assert info.value.error
