"""FastAPI's conventions with real Keycloak tokens: the caller returned as data, a user's own
Principal class, optional authentication beside other schemes, OpenAPI's refusals and scheme
names, and service tokens sent through httpx2."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httpx2
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, KeycloakSettings, Principal, ServiceTokenClient
from keycloak_dev import KeycloakServer
from tests.integration.conftest import user_token


class ShopUser(Principal):
    public_fields: ClassVar[tuple[str, ...]] = (*Principal.public_fields, "can_checkout")

    @property
    def can_checkout(self) -> bool:
        return self.claim_bool("canCheckout")


def build_app(auth: KeycloakAuth) -> FastAPI:
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/me")
    async def me(user: ShopUser = Depends(auth.principal)) -> ShopUser:
        return user

    @app.get("/catalog")
    async def catalog(user: ShopUser | None = Depends(auth.optional_principal)) -> dict[str, Any]:
        return {"user": user.username if user else None}

    return app


def test_a_real_callers_principal_is_returned_as_its_public_fields(
    keycloak: KeycloakServer, settings: KeycloakSettings
) -> None:
    auth = KeycloakAuth(settings, principal_class=ShopUser)
    token = user_token(keycloak, "mario")
    with TestClient(build_app(auth)) as client:
        body = client.get("/me", headers={"Authorization": f"Bearer {token}"}).json()
        schema = client.get("/openapi.json").json()
    assert body["username"] == "mario"
    assert body["can_checkout"] is True
    assert "api" in body["audience"]
    assert "claims" not in body and token not in str(body)
    assert {"401", "403", "503"} <= set(schema["paths"]["/me"]["get"]["responses"])
    assert set(schema["components"]["securitySchemes"]) == {"KeycloakBearer.demo.api", "KeycloakLogin.demo.api"}


def test_optional_authentication_ignores_other_schemes_but_not_a_bad_bearer_token(
    keycloak: KeycloakServer, settings: KeycloakSettings
) -> None:
    token = user_token(keycloak, "luigi")
    with TestClient(build_app(KeycloakAuth(settings))) as client:
        assert client.get("/catalog", headers={"Authorization": "Basic bHVpZ2k6cGFzcw=="}).json() == {"user": None}
        assert client.get("/catalog", headers={"X-API-Key": "partner-key"}).json() == {"user": None}
        assert client.get("/catalog", headers={"Authorization": f"Bearer {token}"}).json() == {"user": "luigi"}
        assert client.get("/catalog", headers={"Authorization": f"Bearer {token[:-4]}AAAA"}).status_code == 401


def test_service_tokens_go_out_through_an_httpx2_client(keycloak: KeycloakServer, settings: KeycloakSettings) -> None:
    seen: list[str] = []

    def downstream(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["Authorization"])
        return httpx2.Response(200, json={"queued": True})

    async def scenario() -> Any:
        async with (
            ServiceTokenClient(settings) as tokens,
            KeycloakAuth(settings) as auth,
            httpx2.AsyncClient(transport=httpx2.MockTransport(downstream), auth=tokens.auth()) as http,
        ):
            response = await http.post("https://shipping.internal.test/notify", json={"order": 7})
            caller = await auth.verify(seen[0].removeprefix("Bearer "))
            return response.json(), caller

    answer, caller = asyncio.run(scenario())
    assert answer == {"queued": True}
    assert caller.is_service_account
    assert caller.client_id == "shop-api"
