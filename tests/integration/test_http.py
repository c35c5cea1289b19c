"""Through HTTP: a FastAPI app with the middleware and the dependencies, and real tokens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, Principal
from keycloak_dev import KeycloakServer
from tests.integration.conftest import service_token, settings_for, user_token


def build_app(auth: KeycloakAuth, *, middleware: bool) -> FastAPI:
    app = FastAPI(lifespan=auth.lifespan)
    if middleware:
        app.add_middleware(KeycloakMiddleware, auth=auth, public_paths=["/health"])

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/me")
    async def me(user: Principal = Depends(auth.principal)) -> dict[str, object]:
        return {"username": user.username, "service": user.is_service_account}

    @app.get("/admin", dependencies=[Depends(auth.require_roles("admin"))])
    async def admin() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/orders", dependencies=[Depends(auth.require_roles("orders:read", client="api"))])
    async def orders() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/internal/notify")
    async def notify(caller: Principal = Depends(auth.require_service_account("shop-api"))) -> dict[str, object]:
        return {"caller": caller.client_id}

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, object]:
        return {"user": request.user.display_name if isinstance(request.user, Principal) else None}

    return app


@pytest.fixture(scope="module")
def tokens(keycloak: KeycloakServer) -> dict[str, str]:
    return {
        "mario": user_token(keycloak, "mario"),
        "luigi": user_token(keycloak, "luigi", client_id="shop-api"),
        "admin": user_token(keycloak, "admin"),
        "shop-api": service_token(keycloak, "shop-api"),
        "rogue": service_token(keycloak, "rogue"),
        "garbage": "not.a.token",
    }


@pytest.fixture(scope="module", params=[True, False], ids=["middleware", "dependencies"])
def client(request: pytest.FixtureRequest, keycloak: KeycloakServer) -> Iterator[TestClient]:
    auth = KeycloakAuth(settings_for(keycloak))
    with TestClient(build_app(auth, middleware=request.param)) as test_client:
        yield test_client


EXPECTED = [
    ("GET", "/me", None, 401), ("GET", "/me", "garbage", 401), ("GET", "/me", "rogue", 401),
    ("GET", "/me", "mario", 200), ("GET", "/me", "luigi", 200), ("GET", "/me", "shop-api", 200),
    ("GET", "/admin", "mario", 403), ("GET", "/admin", "luigi", 403), ("GET", "/admin", "admin", 200),
    ("GET", "/orders", "mario", 200), ("GET", "/orders", "admin", 403), ("GET", "/orders", "luigi", 403),
    ("POST", "/internal/notify", "shop-api", 200), ("POST", "/internal/notify", "luigi", 403),
    ("POST", "/internal/notify", "mario", 403), ("POST", "/internal/notify", "rogue", 401),
    ("GET", "/health", None, 200),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "who", "status"), EXPECTED, ids=[f"{m} {p} {w}" for m, p, w, _ in EXPECTED])
def test_each_caller_gets_the_right_answer(
    client: TestClient, tokens: dict[str, str], method: str, path: str, who: str | None, status: int
) -> None:
    headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
    response = client.request(method, path, headers=headers)
    assert response.status_code == status, response.text
    if status in (401, 403):
        assert response.headers["www-authenticate"].startswith('Bearer realm="demo"')


def test_the_middleware_makes_the_caller_the_request_user(keycloak: KeycloakServer, tokens: dict[str, str]) -> None:
    auth = KeycloakAuth(settings_for(keycloak))
    with TestClient(build_app(auth, middleware=True)) as test_client:
        response = test_client.get("/whoami", headers={"Authorization": f"Bearer {tokens['shop-api']}"})
    assert response.json() == {"user": "service-account-shop-api"}
