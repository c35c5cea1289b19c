"""Cookie-authenticated requests: the same verification, refresh before expiry, the end of a session."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakSettings
from fastapi_kc.login import BrowserLogin
from tests.login.conftest import APP_URL, SECRET_KEY, LoginApp, build_app, log_in
from tests.login.fake import LoginKeycloak
from tests.support.fake_keycloak import TOKEN_PATH, FakeKeycloak


def test_a_default_middleware_refuses_the_session_cookie(
    settings: KeycloakSettings, fake_keycloak: FakeKeycloak, login_keycloak: LoginKeycloak
) -> None:
    shop = build_app(settings, fake_keycloak, login_keycloak, cookie_auth=False)
    with TestClient(shop.app, base_url=APP_URL, follow_redirects=False) as browser:
        log_in(browser, shop)
        response = browser.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="demo"'


def test_an_authorization_header_wins_over_the_cookie(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    response = browser.get("/me", headers={"Authorization": "Bearer not.a.token"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_request_without_a_session_is_refused_as_without_a_token(browser: TestClient) -> None:
    assert browser.get("/me").status_code == 401


def test_a_public_page_knows_the_signed_in_user_and_serves_everyone_else(browser: TestClient, shop: LoginApp) -> None:
    assert browser.get("/").json() == {"user": None}
    log_in(browser, shop)
    assert browser.get("/").json() == {"user": "mario"}
    shop.store._entries.clear()  # the session ended on the server
    assert browser.get("/").json() == {"user": None}


def test_the_access_token_is_refreshed_before_it_expires(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    shop.clock.offset = 280  # 20 s left: inside the 30 s margin
    assert browser.get("/me").status_code == 200
    refreshes = [r for r in shop.keycloak.requests if b"grant_type=refresh_token" in r.content]
    assert len(refreshes) == 1
    assert browser.get("/me").status_code == 200  # the new token is good for 300 s more
    assert len([r for r in shop.keycloak.requests if b"grant_type=refresh_token" in r.content]) == 1


def test_a_token_far_from_expiry_is_not_refreshed(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    shop.clock.offset = 200
    assert browser.get("/me").status_code == 200
    assert not [r for r in shop.keycloak.requests if b"grant_type=refresh_token" in r.content]


def test_concurrent_requests_refresh_once(shop: LoginApp) -> None:
    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=shop.app)
        async with shop.login.auth, httpx.AsyncClient(transport=transport, base_url=APP_URL) as browser:
            response = await browser.get("/auth/login")
            query = dict(parse_qsl(urlsplit(response.headers["location"]).query))
            code = shop.keycloak.authorize(query)
            await browser.get("/auth/callback", params={"code": code, "state": query["state"]})
            shop.clock.offset = 290
            answers = await asyncio.gather(*(browser.get("/me") for _ in range(10)))
        return [answer.status_code for answer in answers]

    assert asyncio.run(scenario()) == [200] * 10
    assert len([r for r in shop.keycloak.requests if b"grant_type=refresh_token" in r.content]) == 1


def test_a_refused_refresh_ends_the_session(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    shop.keycloak.refresh_tokens.clear()  # the Keycloak session ended (admin logout, idle timeout)
    shop.clock.offset = 280
    response = browser.get("/me")
    assert response.status_code == 401
    assert "Keycloak refused to refresh it (invalid_grant)" in response.json()["detail"]
    assert len(shop.store) == 0
    assert "fastapi_kc_session" not in browser.cookies  # the refusal expired the cookie
    assert browser.get("/me").status_code == 401


def test_an_unreachable_keycloak_keeps_a_still_valid_token(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    shop.keycloak.down = True
    shop.clock.offset = 280
    assert browser.get("/me").status_code == 200
    assert len(shop.store) == 1


def test_an_unreachable_keycloak_with_an_expired_token_is_a_503(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    shop.keycloak.down = True
    shop.clock.offset = 310
    response = browser.get("/me")
    assert response.status_code == 503
    assert response.headers["retry-after"]


def test_the_refresh_route_refreshes_now(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    token = browser.get("/csrf").json()["csrf_token"]
    response = browser.post("/auth/refresh", headers={"Origin": APP_URL, "X-CSRF-Token": token})
    assert response.status_code == 200
    assert 290 <= response.json()["expires_in"] <= 300
    assert shop.keycloak.hits[TOKEN_PATH] == 2  # the code, then the refresh


def test_the_session_cookie_is_httponly_lax_and_not_secure_on_localhost(browser: TestClient, shop: LoginApp) -> None:
    response = browser.get("/auth/login")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie
    assert "max-age" not in cookie  # a browser-session cookie; the server decides how long a login lasts


def test_the_session_cookie_is_secure_outside_localhost(settings: KeycloakSettings) -> None:
    login = BrowserLogin(KeycloakAuth(settings), client_id="c", client_secret="s", app_url="https://shop.example.com",
                         secret_key=SECRET_KEY)  # fmt: skip
    assert login.session_cookie["https_only"] is True
    assert login.session_cookie["same_site"] == "lax"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"app_url": "http://shop.example.com"}, "https:// outside localhost"),
        ({"secret_key": "short"}, "at least 32 characters"),
        ({"allowed_origins": ["shop.example.com"]}, "is not an origin"),
    ],
)
def test_unsafe_settings_fail_at_construction(
    settings: KeycloakSettings, options: dict[str, Any], message: str
) -> None:
    values: dict[str, Any] = {"client_id": "c", "client_secret": "s", "app_url": APP_URL, "secret_key": SECRET_KEY}
    values.update(options)
    with pytest.raises(ConfigurationError, match=message):
        BrowserLogin(KeycloakAuth(settings), **values)


def test_tokens_never_appear_in_the_session_repr(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    import asyncio as aio

    sid = next(iter(shop.store._entries))
    data = aio.run(shop.store.load(sid))
    assert data is not None
    from fastapi_kc.login import LoginSession

    session = LoginSession.from_dict(data)
    assert session is not None
    assert session.access_token not in repr(session)
    assert session.refresh_token is not None and session.refresh_token not in repr(session)
