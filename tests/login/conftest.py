"""An app with browser login against the fake Keycloak, and a browser (TestClient) that logs in.

The core's fake serves discovery and keys to `KeycloakAuth` (httpx); `LoginKeycloak` serves the
token endpoint and keys to Authlib (httpx2). The app answers at http://localhost:8000, the
address its login flow and origin checks are configured for.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, which name locals.

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from starlette.middleware.sessions import SessionMiddleware

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal
from fastapi_kc.login import BrowserLogin, MemorySessionStore
from tests.login.fake import CLIENT_ID, CLIENT_SECRET, LoginKeycloak
from tests.support.clock import ShiftedClock
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey

APP_URL = "http://localhost:8000"
SECRET_KEY = "a-test-secret-key-of-at-least-32-characters"


@dataclass
class LoginApp:
    app: FastAPI
    login: BrowserLogin
    keycloak: LoginKeycloak
    store: MemorySessionStore
    clock: ShiftedClock


def build_app(
    settings: KeycloakSettings,
    fake: FakeKeycloak,
    login_keycloak: LoginKeycloak,
    *,
    cookie_auth: bool = True,
    **login_options: Any,
) -> LoginApp:
    auth = KeycloakAuth(settings, http_client=fake.client())
    store = MemorySessionStore()
    clock = ShiftedClock()
    options: dict[str, Any] = {
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "app_url": APP_URL, "secret_key": SECRET_KEY,
        "store": store, "clock": clock, "transport": login_keycloak.transport(),
    }  # fmt: skip
    options.update(login_options)
    login = BrowserLogin(auth, **options)
    app = FastAPI()
    app.include_router(login.router)

    @app.get("/me")
    async def me(user: Annotated[Principal, Depends(auth.principal)]) -> dict[str, Any]:
        return {"username": user.username}

    @app.get("/")
    async def home(request: Request) -> dict[str, Any]:
        return {"user": getattr(request.user, "username", None)}

    @app.get("/csrf")
    async def csrf(request: Request) -> dict[str, str]:
        return {"csrf_token": login.csrf_token(request)}

    @app.post("/orders")
    async def order(user: Annotated[Principal, Depends(auth.principal)]) -> dict[str, Any]:
        return {"ordered_by": user.username}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"hello": websocket.user.username})
        await websocket.close()

    credentials = login.credentials if cookie_auth else None
    app.add_middleware(KeycloakMiddleware, auth=auth, public_paths=["/", "/auth/*"], credentials=credentials)
    app.add_middleware(SessionMiddleware, **login.session_cookie)
    return LoginApp(app, login, login_keycloak, store, clock)


@pytest.fixture
def login_keycloak(signing_key: SigningKey) -> LoginKeycloak:
    return LoginKeycloak(signing_key)


@pytest.fixture
def settings(settings_values: dict[str, Any]) -> KeycloakSettings:
    return KeycloakSettings(**settings_values)


@pytest.fixture
def shop(settings: KeycloakSettings, fake_keycloak: FakeKeycloak, login_keycloak: LoginKeycloak) -> LoginApp:
    return build_app(settings, fake_keycloak, login_keycloak)


@pytest.fixture
def browser(shop: LoginApp) -> Iterator[TestClient]:
    with TestClient(shop.app, base_url=APP_URL, follow_redirects=False) as client:
        yield client


def start_login(browser: TestClient, next_path: str = "/me") -> dict[str, str]:
    """GET /auth/login; return the query Keycloak's authorization endpoint receives."""
    response = browser.get("/auth/login", params={"next": next_path})
    assert response.status_code == 302, response.text
    return dict(parse_qsl(urlsplit(response.headers["location"]).query))


def log_in(browser: TestClient, shop: LoginApp, next_path: str = "/me") -> str:
    """The whole flow: login, Keycloak's page (faked), callback. Returns where the callback sends the browser."""
    query = start_login(browser, next_path)
    code = shop.keycloak.authorize(query)
    response = browser.get("/auth/callback", params={"code": code, "state": query["state"]})
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def same_site_headers(browser: TestClient) -> dict[str, str]:
    """What a page of the app itself sends with a state-changing fetch: its origin and the CSRF token."""
    token = browser.get("/csrf").json()["csrf_token"]
    return {"Origin": APP_URL, "X-CSRF-Token": token}
