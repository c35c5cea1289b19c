"""`KeycloakMiddleware`: every HTTP and WebSocket request needs a token, except public paths.

Real Starlette and FastAPI applications through `TestClient`; Keycloak is faked at the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal
from fastapi_kc.metrics import CountingMetrics
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import AUDIENCE, SigningKey, mint, user_claims

PUBLIC_PATHS = ["/health", "/static/*"]


async def whoami(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse(
        {
            "is_principal": isinstance(user, Principal),
            "subject": user.subject if isinstance(user, Principal) else None,
            "grants": sorted(request.auth.scopes) if "auth" in request.scope else None,
        }
    )


async def anyone(request: Request) -> PlainTextResponse:
    return PlainTextResponse("open")


@requires("realm:customer")
async def customers_only(request: Request) -> PlainTextResponse:
    return PlainTextResponse("welcome, customer")


@requires("realm:admin")
async def admins_only(request: Request) -> PlainTextResponse:
    return PlainTextResponse("welcome, admin")


async def echo_user(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"username": websocket.user.username, "subject": websocket.user.identity})
    await websocket.close()


def build_starlette(auth: KeycloakAuth, **kwargs: Any) -> Starlette:
    """A plain Starlette app with the middleware and *no* `lifespan=auth.lifespan`."""
    routes = [
        Route("/health", anyone),
        Route("/health/deep", anyone),
        Route("/static", anyone),
        Route("/static/{path:path}", anyone),
        Route("/staticky", anyone),
        Route("/whoami", whoami),
        Route("/customers", customers_only),
        Route("/admins", admins_only),
        WebSocketRoute("/ws", echo_user),
    ]
    middleware = [Middleware(KeycloakMiddleware, auth=auth, public_paths=PUBLIC_PATHS)]
    return Starlette(routes=routes, middleware=middleware, **kwargs)


@pytest.fixture
def auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, object]) -> KeycloakAuth:
    return KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())


@pytest.fixture
def client(auth: KeycloakAuth) -> Iterator[TestClient]:
    with TestClient(build_starlette(auth)) as client:
        yield client


@pytest.fixture
def token(signing_key: SigningKey) -> str:
    return mint(user_claims(), signing_key)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- public and protected paths -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/health", 200, id="exact-public-path"),
        pytest.param("/health/deep", 401, id="below-an-exact-path-is-protected"),
        pytest.param("/static", 200, id="prefix-itself"),
        pytest.param("/static/app.js", 200, id="below-the-prefix"),
        pytest.param("/static/css/site.css", 200, id="deep-below-the-prefix"),
        pytest.param("/staticky", 401, id="same-letters-is-not-the-prefix"),
        pytest.param("/whoami", 401, id="other-path"),
    ],
)
def test_public_paths_are_exact_paths_or_slash_star_prefixes(client: TestClient, path: str, status: int) -> None:
    assert client.get(path).status_code == status


def test_a_protected_path_without_a_token_gets_a_challenge_and_a_json_body(client: TestClient) -> None:
    response = client.get("/whoami")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="demo"'
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"detail": "a bearer token is required"}


def test_a_protected_path_with_a_bad_token_gets_invalid_token(client: TestClient, signing_key: SigningKey) -> None:
    response = client.get("/whoami", headers=bearer(mint(user_claims(exp=1_000_000_000), signing_key)))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="demo", error="invalid_token", error_description="token has expired"'
    )
    assert response.json() == {"detail": "token has expired"}


# --- what the application sees ---------------------------------------------------------------------


def test_request_user_is_the_principal_and_request_auth_holds_its_grants(client: TestClient, token: str) -> None:
    body = client.get("/whoami", headers=bearer(token)).json()
    assert body["is_principal"] is True
    assert body["subject"] == "0b5c6e1a-user-mario"
    assert {"authenticated", "realm:customer", f"client:{AUDIENCE}:orders:read", "scope:email"} <= set(body["grants"])
    assert "realm:orders:read" not in body["grants"]  # a client role is no realm grant


@pytest.mark.parametrize(
    ("path", "status"),
    [pytest.param("/customers", 200, id="held-grant"), pytest.param("/admins", 403, id="missing-grant")],
)
def test_starlettes_requires_decorator_checks_the_grants(
    client: TestClient, token: str, path: str, status: int
) -> None:
    assert client.get(path, headers=bearer(token)).status_code == status


def test_dependencies_reuse_the_middlewares_principal(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], token: str
) -> None:
    verifications = CountingMetrics()  # counts every verification: full, or answered from the cache
    auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client(), metrics=verifications)
    app = FastAPI()
    app.add_middleware(KeycloakMiddleware, auth=auth)

    @app.get("/orders")
    async def orders(
        request: Request,
        caller: Principal = Depends(auth.principal),
        reader: Principal = Depends(auth.require_roles("orders:read", client=AUDIENCE)),
    ) -> dict[str, bool]:
        return {"same": caller is reader is request.user}

    with TestClient(app) as client:
        for _ in range(3):
            assert client.get("/orders", headers=bearer(token)).json() == {"same": True}
    assert verifications.cache_misses + verifications.cache_hits == 3


# --- WebSocket ----------------------------------------------------------------------------------------


def test_a_websocket_without_a_token_is_closed_with_policy_violation(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws"):
        pass
    assert info.value.code == 1008


def test_a_websocket_with_a_token_sees_its_principal_as_websocket_user(client: TestClient, token: str) -> None:
    with client.websocket_connect("/ws", headers=bearer(token)) as websocket:
        assert websocket.receive_json() == {"username": "mario", "subject": "0b5c6e1a-user-mario"}


# --- lifespan and other scopes -------------------------------------------------------------------


def test_the_middleware_starts_and_stops_auth_with_the_applications_own_lifespan(
    auth: KeycloakAuth, token: str
) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("app started")
        yield
        events.append("app stopped")

    with TestClient(build_starlette(auth, lifespan=lifespan)) as client:
        assert auth.started
        assert client.get("/whoami", headers=bearer(token)).status_code == 200
    assert events == ["app started", "app stopped"]
    assert not auth.started


def test_a_start_up_failure_fails_the_applications_start(auth: KeycloakAuth, fake_keycloak: FakeKeycloak) -> None:
    fake_keycloak.discovery_issuer = "http://keycloak.internal:8080/realms/demo"
    with pytest.raises(ConfigurationError, match="issuer"), TestClient(build_starlette(auth)):
        pass
    assert not auth.started


def test_scopes_other_than_http_websocket_and_lifespan_pass_through_untouched(auth: KeycloakAuth) -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    async def receive() -> Message:
        return {"type": "custom.event"}

    async def send(message: Message) -> None:
        raise AssertionError(f"the middleware answered by itself: {message}")

    scope: Scope = {"type": "custom", "path": "/whoami", "headers": []}
    asyncio.run(KeycloakMiddleware(app, auth=auth)(scope, receive, send))
    assert seen == [{"type": "custom", "path": "/whoami", "headers": []}]
    assert seen[0] is scope


def test_a_start_up_failure_is_reported_to_the_server_as_lifespan_startup_failed(
    auth: KeycloakAuth, fake_keycloak: FakeKeycloak
) -> None:
    """ASGI: an app that raises before answering the lifespan startup is taken for one without
    lifespan support, and the server goes on serving (uvicorn's default `--lifespan auto` does).
    A failed start must be said with `lifespan.startup.failed`, as Starlette's router says it."""
    fake_keycloak.discovery_issuer = "http://keycloak.internal:8080/realms/demo"
    sent: list[Message] = []
    inbox: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> Message:
        return inbox.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    async def serve() -> None:
        with contextlib.suppress(ConfigurationError):
            await build_starlette(auth)({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)

    asyncio.run(serve())
    assert [message["type"] for message in sent] == ["lifespan.startup.failed"]
    assert "issuer" in sent[0]["message"]


def test_public_paths_are_matched_below_the_root_path_a_proxy_mounts_the_app_under(settings_values) -> None:
    from fastapi_kc import KeycloakAuth, KeycloakMiddleware, KeycloakSettings

    seen: list[str] = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = KeycloakMiddleware(
        app, auth=KeycloakAuth(KeycloakSettings(**settings_values)), public_paths=["/health"]
    )
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/shop/health", "root_path": "/shop", "headers": []}
    import asyncio

    asyncio.run(middleware(scope, receive, send))
    assert sent[0]["status"] == 204 and seen == ["/shop/health"]
