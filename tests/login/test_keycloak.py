"""The browser login against the real Keycloak, with Keycloak's real login form (driven by httpx).

The example app runs in-process (TestClient at http://localhost:8000, the address the realm's
`shop-bff` client redirects to); Keycloak is the pinned one of keycloak_dev. The headless-browser
version of the same story is tests/example/test_browser.py.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from example_app.main import create_app
from fastapi_kc import KeycloakSettings
from keycloak_dev import KeycloakServer
from tests.example.conftest import password_of, realm, secret_of

pytestmark = pytest.mark.keycloak

APP_URL = "http://localhost:8000"


@pytest.fixture
def browser(keycloak: KeycloakServer) -> Iterator[TestClient]:
    settings = KeycloakSettings(
        public_url=keycloak.public_url, internal_url=keycloak.internal_url, realm=realm()["realm"],
        audience="api", client_id="shop-api", client_secret=secret_of("shop-api"),
    )  # fmt: skip
    app = create_app(settings, login_client_secret=secret_of("shop-bff"), app_url=APP_URL)
    with TestClient(app, base_url=APP_URL, follow_redirects=False) as client:
        yield client


class KeycloakBrowser:
    """The browser's side of Keycloak, with its cookies (Keycloak's single sign-on session).

    Keycloak's cookies are `Secure; SameSite=None`. Browsers send them to http://localhost, a
    secure context for them; Python's cookie jar never sends `Secure` cookies over http, so this
    keeps them itself.
    """

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}

    def get(self, url: str) -> httpx.Response:
        return self.request("GET", url)

    def post(self, url: str, data: dict[str, str]) -> httpx.Response:
        return self.request("POST", url, data=data)

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = self.client.request(method, url, headers={"Cookie": cookie} if cookie else {}, **options)
        self.client.cookies.clear()
        for line in response.headers.get_list("set-cookie"):
            pair, _, attributes = line.partition(";")
            name, _, value = pair.strip().partition("=")
            if not value or re.search(r"(?i)max-age=0\b", attributes):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response


@pytest.fixture
def keycloak_browser() -> Iterator[KeycloakBrowser]:
    with httpx.Client(follow_redirects=False, timeout=120) as client:
        yield KeycloakBrowser(client)


def sign_in(browser: TestClient, keycloak_browser: KeycloakBrowser, username: str = "mario") -> None:
    """Log in through Keycloak's own form; ends back on /hello."""
    start = browser.get("/auth/login", params={"next": "/hello"})
    assert start.status_code == 302
    form_page = keycloak_browser.get(start.headers["location"])
    assert form_page.status_code == 200, form_page.text[:300]
    action = html.unescape(re.search(r'action="([^"]*login-actions/authenticate[^"]*)"', form_page.text)[1])  # type: ignore[index]
    signed_in = keycloak_browser.post(action, data={"username": username, "password": password_of(username)})
    assert signed_in.status_code == 302, signed_in.text[:300]
    callback = urlsplit(signed_in.headers["location"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == f"{APP_URL}/auth/callback"
    back = browser.get(f"{callback.path}?{callback.query}")
    assert back.status_code == 303, back.text
    assert back.headers["location"] == "/hello"


def csrf_headers(browser: TestClient) -> dict[str, str]:
    page = browser.get("/hello").text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]  # type: ignore[index]
    return {"Origin": APP_URL, "X-CSRF-Token": token}


def test_mario_signs_in_on_keycloaks_page_and_is_greeted(
    browser: TestClient, keycloak_browser: KeycloakBrowser
) -> None:
    sign_in(browser, keycloak_browser)
    page = browser.get("/hello")
    assert page.status_code == 200
    assert "Hello mario" in page.text
    me = browser.get("/me").json()  # the API, through the same cookie and the same verification
    assert (me["username"], me["name"]) == ("mario", "Mario Rossi")


def test_a_post_with_the_csrf_token_is_accepted_and_without_it_refused(
    browser: TestClient, keycloak_browser: KeycloakBrowser
) -> None:
    sign_in(browser, keycloak_browser)
    assert browser.post("/checkout", headers={"Origin": APP_URL}).status_code == 403
    paid = browser.post("/checkout", headers=csrf_headers(browser))
    assert paid.status_code == 200, paid.text
    assert paid.json() == {"status": "paid", "customer": "mario"}


def test_the_refresh_route_gets_fresh_tokens_from_keycloak(
    browser: TestClient, keycloak_browser: KeycloakBrowser
) -> None:
    sign_in(browser, keycloak_browser)
    refreshed = browser.post("/auth/refresh", headers=csrf_headers(browser))
    assert refreshed.status_code == 200, refreshed.text
    assert 250 <= refreshed.json()["expires_in"] <= 300
    assert browser.get("/hello").status_code == 200


def test_logout_ends_the_keycloak_session_too(
    browser: TestClient, keycloak_browser: KeycloakBrowser, keycloak: KeycloakServer
) -> None:
    sign_in(browser, keycloak_browser)
    old_cookie = browser.cookies["fastapi_kc_session"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/hello").text)[1]  # type: ignore[index]
    out = browser.post("/auth/logout", data={"csrf_token": token}, headers={"Origin": APP_URL})
    assert out.status_code == 303
    end_session = out.headers["location"]
    assert end_session.startswith(f"{keycloak.public_url}/realms/demo/protocol/openid-connect/logout?")
    assert "id_token_hint" in parse_qs(urlsplit(end_session).query)
    back = keycloak_browser.get(end_session)  # Keycloak ends its session and sends the browser back
    assert back.status_code == 302, back.text[:300]
    assert back.headers["location"].startswith(f"{APP_URL}/")
    assert browser.get("/hello").status_code == 401
    browser.cookies.set("fastapi_kc_session", old_cookie)
    assert browser.get("/hello").status_code == 401
    # Keycloak's single sign-on session is gone: a new login asks for the password again.
    again = keycloak_browser.get(browser.get("/auth/login").headers["location"])
    assert again.status_code == 200
    assert 'id="kc-form-login"' in again.text


def test_a_session_ended_at_keycloak_ends_here_at_the_next_refresh(
    browser: TestClient, keycloak_browser: KeycloakBrowser, keycloak: KeycloakServer
) -> None:
    sign_in(browser, keycloak_browser)
    headers = csrf_headers(browser)
    user_id = keycloak.admin("GET", "demo/users?username=mario&exact=true")[0]["id"]
    keycloak.admin("POST", f"demo/users/{user_id}/logout")
    refused = browser.post("/auth/refresh", headers=headers)
    assert refused.status_code == 401
    assert "Keycloak refused to refresh it (invalid_grant)" in refused.json()["detail"]
    assert browser.get("/hello").status_code == 401
