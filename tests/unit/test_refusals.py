"""Refusals users can shape (issue 14): one body in both forms, `on_error`, and the app's
exception handlers for `AuthError`.

One FastAPI app has a middleware-protected route and, on a path public to the middleware, the
same route protected by a dependency, so the two forms answer the same request side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from fastapi_kc import AuthError, InsufficientScopeError, KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims


@pytest.fixture
def auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> KeycloakAuth:
    return KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())


def build_app(auth: KeycloakAuth, **middleware_options: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(KeycloakMiddleware, auth=auth, public_paths=["/dependency/*"], **middleware_options)

    @app.get("/middleware/me")
    async def by_middleware(request: Request) -> dict[str, str]:
        return {"subject": request.user.identity}

    @app.get("/dependency/me")
    async def by_dependency(caller: Principal = Depends(auth.principal)) -> dict[str, str]:
        return {"subject": caller.subject}

    @app.get("/dependency/admin")
    async def admin(caller: Principal = Depends(auth.require_roles("admin"))) -> dict[str, str]:
        return {"subject": caller.subject}

    @app.websocket("/middleware/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    return app


REQUESTS: dict[str, Callable[[SigningKey], dict[str, str]]] = {
    "no-token": lambda key: {},
    "expired-token": lambda key: {"Authorization": f"Bearer {mint(user_claims(exp=1_000_000_000), key)}"},
    "malformed-header": lambda key: {"Authorization": "Bearer a b"},
    "garbage-token": lambda key: {"Authorization": "Bearer not-a-jwt"},
}


# --- one body shape in both forms -------------------------------------------------------------


@pytest.mark.parametrize("case", list(REQUESTS))
def test_the_middleware_and_the_dependencies_answer_a_refusal_byte_for_byte_alike(
    auth: KeycloakAuth, signing_key: SigningKey, case: str
) -> None:
    headers = REQUESTS[case](signing_key)
    with TestClient(build_app(auth)) as client:
        middleware = client.get("/middleware/me", headers=headers)
        dependency = client.get("/dependency/me", headers=headers)
    assert middleware.status_code == dependency.status_code == 401
    assert middleware.content == dependency.content
    assert set(middleware.json()) == {"detail"}
    for name in ("WWW-Authenticate", "Content-Type", "Cache-Control"):
        assert middleware.headers[name] == dependency.headers[name], name


# --- on_error, the Starlette way ---------------------------------------------------------------


def problem_details(request: Request, error: AuthError) -> Response:
    """RFC 9457 problem details, keeping the RFC 6750 challenge."""
    body = {"type": "about:blank", "title": error.error or "unauthorized", "status": error.status_code,
            "detail": error.description, "instance": request.url.path}  # fmt: skip
    return JSONResponse(body, error.status_code, headers=error.headers, media_type="application/problem+json")


def test_on_error_answers_a_refusal_with_a_problem_details_body(auth: KeycloakAuth, signing_key: SigningKey) -> None:
    with TestClient(build_app(auth, on_error=problem_details)) as client:
        response = client.get("/middleware/me", headers=REQUESTS["expired-token"](signing_key))
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json() == {"type": "about:blank", "title": "invalid_token", "status": 401,
                               "detail": "token has expired", "instance": "/middleware/me"}  # fmt: skip
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="demo", error="invalid_token"')


def test_on_error_may_be_async(auth: KeycloakAuth) -> None:
    async def teapot(request: Request, error: AuthError) -> Response:
        return Response("no token, no tea", 418)

    with TestClient(build_app(auth, on_error=teapot)) as client:
        response = client.get("/middleware/me")
    assert (response.status_code, response.text) == (418, "no token, no tea")


def test_on_error_does_not_change_a_websocket_refusal(auth: KeycloakAuth) -> None:
    with (
        TestClient(build_app(auth, on_error=problem_details)) as client,
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect("/middleware/ws"),
    ):
        pass
    assert info.value.code == 1008


# --- the application's exception handlers ---------------------------------------------------------


def with_login_redirect(app: FastAPI) -> FastAPI:
    @app.exception_handler(AuthError)
    async def login_page(request: Request, error: AuthError) -> Response:
        if error.status_code == 401 and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return JSONResponse({"detail": error.description, "error": error.error}, error.status_code, error.headers)

    return app


@pytest.mark.parametrize("path", ["/middleware/me", "/dependency/me"])
def test_an_exception_handler_for_auth_error_redirects_browsers_to_a_login_page_in_both_forms(
    auth: KeycloakAuth, path: str
) -> None:
    with TestClient(with_login_redirect(build_app(auth))) as client:
        browser = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        api_client = client.get(path, headers={"Accept": "application/json"})
    assert browser.status_code == 303
    assert browser.headers["Location"] == f"/login?next={path}"
    assert api_client.status_code == 401
    assert api_client.json() == {"detail": "a bearer token is required", "error": ""}
    assert api_client.headers["WWW-Authenticate"] == 'Bearer realm="demo"'


def test_a_handler_for_one_subclass_shapes_only_those_refusals(auth: KeycloakAuth, signing_key: SigningKey) -> None:
    app = build_app(auth)

    @app.exception_handler(InsufficientScopeError)
    async def forbidden(request: Request, error: InsufficientScopeError) -> Response:
        return JSONResponse({"missing": error.description}, 403, error.headers)

    customer = {"Authorization": f"Bearer {mint(user_claims(), signing_key)}"}
    with TestClient(app) as client:
        refused = client.get("/dependency/admin", headers=customer)
        unauthenticated = client.get("/dependency/admin")
    assert refused.json() == {"missing": "requires realm role(s) admin"}
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert unauthenticated.status_code == 401
    assert unauthenticated.json() == {"detail": "a bearer token is required"}


def test_on_error_takes_precedence_over_the_apps_handler(auth: KeycloakAuth) -> None:
    app = with_login_redirect(build_app(auth, on_error=problem_details))
    with TestClient(app) as client:
        response = client.get("/middleware/me", headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.headers["Content-Type"] == "application/problem+json"
