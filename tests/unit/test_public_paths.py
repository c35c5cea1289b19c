"""Public paths: written so they cannot open more than meant, and still with a user
(issue 10, items 5 and 8), as Starlette's `AuthenticationMiddleware` gives one.

Real Starlette and FastAPI applications through `TestClient`; Keycloak is faked at the transport.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from starlette.websockets import WebSocket

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal
from fastapi_kc.metrics import CountingMetrics
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims


@pytest.fixture
def auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> KeycloakAuth:
    return KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- item 5: public_paths that would open more than meant are refused ---------------------------


async def nothing(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("never called")


def test_a_bare_string_for_public_paths_is_refused(auth: KeycloakAuth) -> None:
    """Split into characters, `"/health"` would make `/` (and `h`, `e`...) public."""
    with pytest.raises(TypeError, match=r"a list of paths, e.g. \['/health'\]"):
        KeycloakMiddleware(nothing, auth=auth, public_paths="/health")


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        pytest.param(["health"], "must start with '/'", id="no-leading-slash"),
        pytest.param(["/health", ""], "must start with '/'", id="empty"),
        pytest.param(["*"], "must start with '/'", id="a-bare-star"),
        pytest.param(["/static/*.js"], "only as a final '/\\*'", id="a-glob-in-the-last-segment"),
        pytest.param(["/api/*/docs"], "only as a final '/\\*'", id="a-star-in-the-middle"),
    ],
)
def test_a_public_path_that_would_never_match_or_is_a_glob_is_refused(
    auth: KeycloakAuth, paths: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        KeycloakMiddleware(nothing, auth=auth, public_paths=paths)


def test_a_public_path_that_is_not_a_string_is_refused(auth: KeycloakAuth) -> None:
    with pytest.raises(TypeError, match="must be a string"):
        KeycloakMiddleware(nothing, auth=auth, public_paths=[b"/health"])  # type: ignore[list-item]


def test_a_bad_public_path_in_an_apps_middleware_list_fails_the_start_not_a_request(auth: KeycloakAuth) -> None:
    app = Starlette(middleware=[Middleware(KeycloakMiddleware, auth=auth, public_paths="/health")])
    with pytest.raises(TypeError, match="public_paths"), TestClient(app):
        pass


# --- item 8: a public path has a user ------------------------------------------------------------


async def who(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "authenticated": request.user.is_authenticated,
            "name": request.user.display_name,
            "grants": list(request.auth.scopes),
        }
    )


@requires("authenticated")
async def members(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"hello {request.user.display_name}")


async def who_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"authenticated": websocket.user.is_authenticated})
    await websocket.close()


@pytest.fixture
def client(auth: KeycloakAuth) -> Iterator[TestClient]:
    routes = [Route("/public/who", who), Route("/public/members", members), WebSocketRoute("/public/ws", who_ws)]
    middleware = [Middleware(KeycloakMiddleware, auth=auth, public_paths=["/public/*"])]
    with TestClient(Starlette(routes=routes, middleware=middleware)) as client:
        yield client


def test_an_anonymous_request_on_a_public_path_has_an_unauthenticated_user_and_no_grants(client: TestClient) -> None:
    response = client.get("/public/who")
    assert response.status_code == 200
    assert response.json() == {"authenticated": False, "name": "", "grants": []}


def test_a_valid_token_on_a_public_path_yields_its_principal(client: TestClient, signing_key: SigningKey) -> None:
    body = client.get("/public/who", headers=bearer(mint(user_claims(), signing_key))).json()
    assert body["authenticated"] is True
    assert body["name"] == "mario"
    assert "realm:customer" in body["grants"]


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("expired", id="an-expired-token"),
        pytest.param("Bearer not-a-jwt", id="not-a-token"),
        pytest.param("Basic dXNlcjpwYXNz", id="another-scheme"),
    ],
)
def test_an_invalid_token_on_a_public_path_is_ignored(
    client: TestClient, signing_key: SigningKey, authorization: str
) -> None:
    if authorization == "expired":
        authorization = f"Bearer {mint(user_claims(exp=1_000_000_000), signing_key)}"
    response = client.get("/public/who", headers={"Authorization": authorization})
    assert response.status_code == 200
    assert response.json()["authenticated"] is False


def test_starlettes_requires_on_a_public_path_refuses_an_anonymous_caller_with_403_not_500(
    client: TestClient, signing_key: SigningKey
) -> None:
    assert client.get("/public/members").status_code == 403
    response = client.get("/public/members", headers=bearer(mint(user_claims(), signing_key)))
    assert response.text == "hello mario"


def test_a_websocket_on_a_public_path_has_a_user(client: TestClient) -> None:
    with client.websocket_connect("/public/ws") as websocket:
        assert websocket.receive_json() == {"authenticated": False}


def test_a_dependency_on_a_public_path_reuses_the_principal_the_middleware_read(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, Any], signing_key: SigningKey
) -> None:
    verifications = CountingMetrics()  # counts every verification (full, or from the cache) and refusal
    auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client(), metrics=verifications)
    app = FastAPI()
    app.add_middleware(KeycloakMiddleware, auth=auth, public_paths=["/maybe"])

    @app.get("/maybe")
    async def maybe(request: Request, caller: Principal | None = Depends(auth.optional_principal)) -> Any:
        return {"subject": caller.subject if caller else None, "same": caller is request.user}

    with TestClient(app) as client:
        assert client.get("/maybe").json() == {"subject": None, "same": False}
        assert verifications.cache_misses + verifications.cache_hits == 0 and verifications.refusals == {}
        token = mint(user_claims(), signing_key)
        assert client.get("/maybe", headers=bearer(token)).json() == {"subject": "0b5c6e1a-user-mario", "same": True}
    assert verifications.cache_misses + verifications.cache_hits == 1


# --- issue 14: public rules may name a method ------------------------------------------------------


@pytest.fixture
def catalog(auth: KeycloakAuth) -> Iterator[TestClient]:
    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{request.method} by {request.user.display_name or 'anonymous'}")

    methods = ["GET", "POST", "DELETE"]
    routes = [Route("/catalog", page, methods=methods), Route("/catalog/{item}", page, methods=methods),
              Route("/health", page, methods=methods), Route("/orders", page, methods=methods)]  # fmt: skip
    rules = ["/health", ("GET", "/catalog/*"), ("post", "/orders")]
    middleware = [Middleware(KeycloakMiddleware, auth=auth, public_paths=rules)]
    with TestClient(Starlette(routes=routes, middleware=middleware)) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/catalog/shoes", 200, id="the-named-method-below-the-prefix"),
        pytest.param("GET", "/catalog", 200, id="the-named-method-on-the-prefix-itself"),
        pytest.param("HEAD", "/catalog/shoes", 200, id="GET-also-covers-HEAD"),
        pytest.param("POST", "/catalog/shoes", 401, id="another-method-below-the-prefix"),
        pytest.param("DELETE", "/catalog", 401, id="another-method-on-the-prefix-itself"),
        pytest.param("OPTIONS", "/catalog/shoes", 401, id="a-preflight-is-not-a-GET"),
        pytest.param("POST", "/orders", 200, id="an-exact-path-for-one-method-lowercase-in-the-rule"),
        pytest.param("GET", "/orders", 401, id="the-exact-path-for-another-method"),
        pytest.param("DELETE", "/health", 200, id="a-rule-without-method-is-every-method"),
    ],
)
def test_a_public_rule_with_a_method_opens_the_path_for_that_method_only(
    catalog: TestClient, method: str, path: str, status: int
) -> None:
    assert catalog.request(method, path).status_code == status


def test_a_method_rule_still_reads_a_valid_token(catalog: TestClient, signing_key: SigningKey) -> None:
    response = catalog.get("/catalog/shoes", headers=bearer(mint(user_claims(), signing_key)))
    assert response.text == "GET by mario"


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(("GE T", "/catalog/*"), id="not-a-method"),
        pytest.param(("", "/catalog/*"), id="empty-method"),
        pytest.param((42, "/catalog/*"), id="a-number"),
        pytest.param(("GET", "catalog/*"), id="a-path-without-slash"),
    ],
)
def test_a_method_rule_that_is_not_a_method_and_a_path_is_refused(auth: KeycloakAuth, rule: Any) -> None:
    with pytest.raises(ValueError, match="public_paths"):
        KeycloakMiddleware(nothing, auth=auth, public_paths=[rule])
