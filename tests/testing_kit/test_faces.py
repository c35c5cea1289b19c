"""Every way an app meets its auth works under the mock: TestClient, httpx with ASGITransport,
`auth.verify` directly, WebSockets, and service tokens from an attached ServiceTokenClient."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, KeycloakSettings, ServiceTokenClient, TokenRequestError
from fastapi_kc.testing import MockKeycloak
from tests.testing_kit.apps import with_dependencies, with_middleware
from tests.testing_kit.conftest import NetworkGuard, settings_with


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_auth_verify_directly(settings: KeycloakSettings, network: NetworkGuard) -> None:
    auth = KeycloakAuth(settings)

    async def main() -> Any:
        async with MockKeycloak(auth) as keycloak, auth:
            return await auth.verify(keycloak.token(username="toad", realm_roles=["customer"]))

    principal = asyncio.run(main())
    assert (principal.username, principal.has_role("customer")) == ("toad", True)
    assert network.attempts == []


def test_httpx_async_client_on_asgi_transport(settings: KeycloakSettings, network: NetworkGuard) -> None:
    """ASGITransport runs no lifespan: the test starts the app's (here: the auth's) itself."""
    auth = KeycloakAuth(settings)
    app = with_dependencies(auth)

    async def main() -> tuple[int, Any]:
        async with (
            MockKeycloak(auth) as keycloak,
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://shop.test") as client,
        ):
            refused = await client.get("/me")
            me = await client.get("/me", headers=bearer(keycloak.token(username="yoshi")))
            return refused.status_code, me.json()

    assert asyncio.run(main()) == (401, {"username": "yoshi", "service": False, "client": None})
    assert network.attempts == []


def test_websocket_handshakes_behind_the_middleware(settings: KeycloakSettings, network: NetworkGuard) -> None:
    auth = KeycloakAuth(settings)
    app = FastAPI(lifespan=auth.lifespan)
    app.add_middleware(KeycloakMiddleware, auth=auth)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"hello": websocket.user.username})
        await websocket.close()

    with (
        MockKeycloak(auth) as keycloak,
        TestClient(app) as client,
        client.websocket_connect("/ws", headers=bearer(keycloak.token(username="daisy"))) as socket,
    ):
        assert socket.receive_json() == {"hello": "daisy"}
    assert network.attempts == []


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_jwt"])
def test_an_attached_service_token_client_gets_tokens_the_auth_accepts(
    settings: KeycloakSettings, network: NetworkGuard, method: str
) -> None:
    client_settings = settings_with(
        client_auth_method=method, client_secret="a-secret-long-enough-for-hs256-0123456789"
    )
    auth, tokens = KeycloakAuth(settings), ServiceTokenClient(client_settings)
    app = with_middleware(auth)

    async def main() -> Any:
        async with (
            MockKeycloak(auth, tokens),
            app.router.lifespan_context(app),
            tokens,
            # Code that calls another service: here the same app, in process.
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://x", auth=tokens.auth()) as client,
        ):
            first, second = await client.get("/me"), await client.get("/me")
            assert first.request.headers["Authorization"] == second.request.headers["Authorization"]  # cached
            return first.json()

    assert asyncio.run(main()) == {"username": "service-account-billing", "service": True, "client": "billing"}
    assert network.attempts == []


def test_the_token_endpoint_issues_what_the_test_configured(settings: KeycloakSettings) -> None:
    auth, tokens = KeycloakAuth(settings), ServiceTokenClient(settings)

    async def main() -> Any:
        async with MockKeycloak(auth, tokens) as keycloak, auth, tokens:
            keycloak.service_account("billing", client_roles={"orders-api": ["orders:read"]})
            return await auth.verify(await tokens.get_token())

    principal = asyncio.run(main())
    assert principal.has_role("orders:read", client="orders-api")


def test_after_the_block_the_token_client_forgets_the_mock_token(
    settings: KeycloakSettings, network: NetworkGuard
) -> None:
    auth, tokens = KeycloakAuth(settings), ServiceTokenClient(settings)

    async def get_token() -> str:
        async with tokens:
            return await tokens.get_token()

    async def main() -> None:
        async with MockKeycloak(auth, tokens):
            await get_token()
        with pytest.raises(TokenRequestError, match=r"keycloak\.invalid"):
            await get_token()

    asyncio.run(main())
    assert network.attempts


def test_the_token_endpoint_refuses_unknown_clients_wrong_secrets_and_other_grants(settings: KeycloakSettings) -> None:
    """Keycloak 26.5's answers (tests/testing_kit/test_real_keycloak.py compares them)."""
    keycloak = MockKeycloak(KeycloakAuth(settings), ServiceTokenClient(settings))
    client_credentials = {"grant_type": "client_credentials"}

    async def main() -> list[tuple[int, str]]:
        async with httpx.AsyncClient(transport=keycloak.transport) as client:
            answers = [
                await client.post(settings.token_url, data=client_credentials, auth=who)
                for who in (("billing", "billing-secret"), ("billing", "not-the-secret"), ("stranger", "s"))
            ]
            answers.append(
                await client.post(
                    settings.token_url, data={"grant_type": "password"}, auth=("billing", "billing-secret")
                )
            )
        return [(answer.status_code, answer.json().get("error", "")) for answer in answers]

    assert asyncio.run(main()) == [
        (200, ""),
        (401, "unauthorized_client"),
        (401, "invalid_client"),
        (400, "unsupported_grant_type"),
    ]


def test_a_client_of_the_app_s_own_code_gets_tokens_once_configured(settings: KeycloakSettings) -> None:
    auth = KeycloakAuth(settings)
    keycloak = MockKeycloak(auth)  # no ServiceTokenClient attached
    keycloak.service_account("reports", realm_roles=["reporter"])

    async def main() -> Any:
        async with keycloak, auth, httpx.AsyncClient(transport=keycloak.transport) as client:
            form = {"grant_type": "client_credentials", "client_id": "reports", "client_secret": "s"}
            return await auth.verify((await client.post(settings.token_url, data=form)).json()["access_token"])

    caller = asyncio.run(main())
    assert (caller.client_id, caller.is_service_account, caller.has_role("reporter")) == ("reports", True, True)


def test_the_transport_answers_only_for_the_realm_s_keycloak(settings: KeycloakSettings) -> None:
    keycloak = MockKeycloak(KeycloakAuth(settings))

    async def main() -> tuple[int, str]:
        async with httpx.AsyncClient(transport=keycloak.transport) as client:
            missing = await client.get(f"{settings.internal_url}/realms/shop/nothing-here")
            try:
                await client.get("https://example.org/")
            except httpx.ConnectError as exc:
                return missing.status_code, str(exc)
        raise AssertionError("a request to another host was answered")

    assert asyncio.run(main()) == (
        404,
        "MockKeycloak answers only for the Keycloak of https://auth.example.com/realms/shop",
    )
