"""A small shop API secured by Keycloak through fastapi_kc.

Who may call what (users and roles come from `keycloak_dev/realm-demo.json`):

    GET  /health                 anyone (a public path of the middleware): the process is alive
    GET  /health/ready           anyone: 200 when tokens can be verified (keys loaded and fresh enough), else 503
    GET  /metrics                anyone (restrict it at the proxy): Prometheus metrics of fastapi_kc
    GET  /docs, /openapi.json    anyone; Swagger UI logs in with the public client `web` (code + PKCE)
    GET  /me                     any signed-in user or service
    GET  /admin                  realm role `admin`
    GET  /orders                 client role `orders:read` of the `api` client
    POST /checkout               realm role `customer`, and the `canCheckout` attribute must be true
    POST /orders/{id}/ship       realm role `admin`; calls /internal/notify with the service's own token
    POST /internal/notify        only the service account of the client `shop-api`
    WS   /ws                     any signed-in user (bearer token in the handshake, or the login cookie);
                                 closed with 1008 when the user's session ends in Keycloak
    POST /backchannel-logout     Keycloak only (a signed logout token, no bearer token), when
                                 KEYCLOAK_LOGOUT_AUDIENCE names the clients users log in through
    GET  /, /hello, /auth/*      server-rendered pages with browser login (example_app/pages.py)

Configuration is read from the environment: the `KEYCLOAK_*` variables of `KeycloakSettings`, and
`SHOP_NOTIFY_URL`, the base URL of the service that /orders/{id}/ship notifies (this app itself by
default, to keep the example to one process); for the pages' login, `SHOP_LOGIN_CLIENT_SECRET` (of
the Keycloak client `shop-bff`), `SHOP_APP_URL` (`http://localhost:8000` by default) and
`SHOP_SESSION_SECRET` (signs the cookie; a random one per process when unset).
"""

# No `from __future__ import annotations`: FastAPI reads the annotations of the routes below at
# run time, and they name `auth`, a local of create_app.
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, HTTPException, Request, Response, WebSocket, WebSocketDisconnect
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.middleware.sessions import SessionMiddleware

from example_app.docs import add_swagger_ui
from example_app.pages import add_pages
from fastapi_kc import KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal, ServiceTokenClient
from fastapi_kc.login import BrowserLogin
from fastapi_kc.metrics import PrometheusMetrics

API_CLIENT = "api"  # the Keycloak client that stands for this API: its roles, and the `aud` we accept
SERVICE_CLIENT = "shop-api"  # the confidential client whose service account may call /internal/*
SWAGGER_CLIENT = "web"  # the public client Swagger UI logs in with (authorization code + PKCE)
LOGIN_CLIENT = "shop-bff"  # the confidential client the pages log in through (fastapi_kc.login)
PUBLIC_PATHS = ["/health", "/metrics", "/docs", "/docs/*", "/openapi.json", "/", "/auth/*"]


def create_app(
    settings: KeycloakSettings | None = None,
    *,
    notify_url: str | None = None,
    notify_transport: httpx.AsyncBaseTransport | None = None,
    keycloak_client: httpx.AsyncClient | None = None,
    login_client_secret: str | None = None,
    app_url: str | None = None,
) -> FastAPI:
    """Build the shop API; `settings` default to the `KEYCLOAK_*` environment variables.

    `keycloak_client` is the HTTP client used to reach Keycloak (tests pass one bound to a fake);
    `notify_transport` carries the calls to the notify service (tests pass one in process). The
    app's `KeycloakAuth` and `ServiceTokenClient` are `app.state.auth` and `app.state.tokens`, for
    tests to attach `fastapi_kc.testing.MockKeycloak` to.

    Raises:
        ConfigurationError: a setting is missing or malformed. Keycloak itself is contacted only
            when the app starts (its lifespan), where a wrong URL or issuer fails the start-up.
    """
    settings = settings or KeycloakSettings()
    notify_url = notify_url or os.environ.get("SHOP_NOTIFY_URL", "http://127.0.0.1:8000")
    # Metrics in a registry of this app's own (one app per process in production; tests build many).
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    auth = KeycloakAuth(settings, http_client=keycloak_client, metrics=metrics)
    tokens = ServiceTokenClient(settings, http_client=keycloak_client, metrics=metrics)
    # Browser login for the pages: tokens stay on the server, the browser gets a session cookie.
    login = BrowserLogin(
        auth,
        client_id=LOGIN_CLIENT,
        client_secret=login_client_secret or os.environ.get("SHOP_LOGIN_CLIENT_SECRET"),
        app_url=app_url or os.environ.get("SHOP_APP_URL", "http://localhost:8000"),
        secret_key=os.environ.get("SHOP_SESSION_SECRET") or secrets.token_urlsafe(32),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Starting `auth` checks Keycloak's issuer and loads its keys: a wrong URL fails here,
        # loudly, instead of at the first request. The token client fetches its token lazily.
        async with (
            auth,
            tokens,
            httpx.AsyncClient(
                base_url=notify_url, auth=tokens.auth(), timeout=10, transport=notify_transport
            ) as notifier,
        ):
            app.state.notifier = notifier
            yield

    # Swagger UI logs in through the public client `web` (authorization code + PKCE, no secret).
    # example_app.docs serves it without a CDN; online, `FastAPI(swagger_ui_init_oauth=...)` is enough.
    app = FastAPI(title="Example shop", lifespan=lifespan, docs_url=None)
    app.state.auth, app.state.tokens = auth, tokens
    add_swagger_ui(app, init_oauth=auth.swagger_ui_oauth(SWAGGER_CLIENT))
    # Every request but the public paths needs a valid token; the middleware puts the Principal in
    # `request.user`. The dependencies below reuse it (no second verification) and declare the
    # security scheme in OpenAPI, which is what makes Swagger UI send the token.
    # `credentials=login.credentials`: a request with the login cookie and no Authorization header
    # is signed in from its session (state-changing ones need the session's CSRF token too).
    app.add_middleware(KeycloakMiddleware, auth=auth, public_paths=PUBLIC_PATHS, credentials=login.credentials)
    # Outside KeycloakMiddleware (added last = outermost): the middleware reads the session it loads.
    app.add_middleware(SessionMiddleware, **login.session_cookie)
    app.include_router(login.router)
    add_pages(app, login)

    if settings.logout_audience:
        # Keycloak calls this route when a session ends (OIDC back-channel logout). It needs no
        # bearer token: the router registers its path with `auth`, and the middleware lets it in.
        # With KEYCLOAK_REVOCATION_STORE=redis://..., every replica learns of the logout.
        app.include_router(auth.backchannel_logout_router())

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    # Readiness for the orchestrator: 503 while the keys were never loaded or are too old.
    app.include_router(auth.health_router("/health/ready"))

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/me")
    async def me(user: Annotated[Principal, Depends(auth.principal)]) -> dict[str, Any]:
        return {
            "username": user.username,
            "name": user.claims.get("name"),
            "email": user.email,
            "realm_roles": sorted(user.realm_roles),
            "api_roles": sorted(user.client_roles.get(API_CLIENT, ())),
            "service_account": user.is_service_account,
        }

    @app.get("/admin")
    async def admin(user: Annotated[Principal, Depends(auth.require_roles("admin"))]) -> dict[str, str]:
        return {"message": f"welcome to the back office, {user.username}"}

    @app.get("/orders")
    async def orders(
        user: Annotated[Principal, Depends(auth.require_roles("orders:read", client=API_CLIENT))],
    ) -> list[dict[str, Any]]:
        return [{"id": 1, "customer": user.username, "total": "42.00"}]

    @app.post("/checkout")
    async def checkout(user: Annotated[Principal, Depends(auth.require_roles("customer"))]) -> dict[str, str]:
        # A user attribute mapped into the token arrives as true, "true" or ["true"] depending on
        # the mapper and the Keycloak version: claim_bool reads them all (field notes, section 4).
        if not user.claim_bool("canCheckout"):
            raise HTTPException(403, "checkout is disabled for this account")
        return {"status": "paid", "customer": str(user.username)}

    @app.post("/orders/{order_id}/ship")
    @auth.roles_required("admin")  # the decorator form: no parameter needed in the endpoint
    async def ship(order_id: int, request: Request) -> dict[str, Any]:
        # Machine to machine: the notifier attaches this service's own client-credentials token
        # (cached, renewed before expiry, one request to Keycloak for any number of callers).
        notifier: httpx.AsyncClient = request.app.state.notifier
        response = await notifier.post("/internal/notify", json={"order": order_id, "event": "shipped"})
        response.raise_for_status()
        return {"order": order_id, "shipped": True, "notification": response.json()}

    @app.post("/internal/notify")
    async def notify(
        payload: dict[str, Any],
        caller: Annotated[Principal, Depends(auth.require_service_account(SERVICE_CLIENT))],
    ) -> dict[str, Any]:
        return {"accepted": payload, "caller": caller.client_id}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        # The middleware refused the handshake already if the token was missing or invalid.
        user: Principal = websocket.user
        await websocket.accept()
        await websocket.send_json({"hello": user.username})
        try:
            while True:
                text = await websocket.receive_text()
                await websocket.send_json({"from": user.username, "echo": text})
        except WebSocketDisconnect:
            return

    return app
