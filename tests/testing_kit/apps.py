"""Two apps as users write them: one behind the middleware, one with dependencies only."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, which name a local `auth`.
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, Principal


def with_middleware(auth: KeycloakAuth) -> FastAPI:
    app = FastAPI(lifespan=auth.lifespan)
    app.add_middleware(KeycloakMiddleware, auth=auth, public_paths=["/health"])

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    async def me(request: Request) -> dict[str, Any]:
        return describe(request.user)

    @app.get("/orders", dependencies=[Depends(auth.require_roles("orders:read", client="orders-api"))])
    async def orders() -> list[int]:
        return [1]

    return app


def with_dependencies(auth: KeycloakAuth) -> FastAPI:
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/me")
    async def me(user: Annotated[Principal, Depends(auth.principal)]) -> dict[str, Any]:
        return describe(user)

    @app.get("/orders", dependencies=[Depends(auth.require_roles("orders:read", client="orders-api"))])
    async def orders() -> list[int]:
        return [1]

    return app


def describe(user: Principal) -> dict[str, Any]:
    return {"username": user.username, "service": user.is_service_account, "client": user.client_id}
