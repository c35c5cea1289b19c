"""The login routes refuse in the core's shape: `{"detail": ...}` only, and an `AuthError`'s
RFC 6750 code in `WWW-Authenticate`, as every other route of the service answers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fastapi_kc import KeycloakSettings
from tests.login.conftest import APP_URL, LoginApp, build_app, log_in
from tests.login.fake import LoginKeycloak
from tests.support.fake_keycloak import FakeKeycloak


def test_a_refresh_without_a_login_session_is_a_401_challenge_without_an_error_code(browser: TestClient) -> None:
    response = browser.post("/auth/refresh", headers={"Origin": APP_URL})
    assert response.status_code == 401
    assert response.json() == {"detail": "no login session: log in first"}
    assert response.headers["www-authenticate"] == 'Bearer realm="demo"'


def test_a_refresh_of_a_session_the_server_no_longer_has_names_invalid_token_in_the_challenge(
    settings: KeycloakSettings, fake_keycloak: FakeKeycloak, login_keycloak: LoginKeycloak
) -> None:
    # Without the middleware's credential source, which would forget the ended session first.
    shop = build_app(settings, fake_keycloak, login_keycloak, cookie_auth=False)
    with TestClient(shop.app, base_url=APP_URL, follow_redirects=False) as browser:
        log_in(browser, shop)
        shop.store._entries.clear()  # the session ended on the server
        response = browser.post("/auth/refresh", headers={"Origin": APP_URL})
    assert response.status_code == 401
    assert response.json() == {"detail": "no login session: log in first"}
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_csrf_refusal_of_a_login_route_carries_its_code_in_the_challenge_not_the_body(
    browser: TestClient, shop: LoginApp
) -> None:
    log_in(browser, shop)
    response = browser.post("/auth/refresh", headers={"Origin": APP_URL})
    assert response.status_code == 403
    assert response.json() == {"detail": "the CSRF token is missing (header X-CSRF-Token)"}
    assert 'error="invalid_request"' in response.headers["www-authenticate"]
    assert response.headers["cache-control"] == "no-store"


def test_a_logout_to_a_page_off_the_allow_list_is_a_400_with_only_a_detail(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    response = browser.post("/auth/logout", data={"next": "https://evil.example/"}, headers={"Origin": APP_URL})
    assert response.status_code == 400
    assert response.json() == {"detail": "the page to return to after logout is not in the allow-list"}
    assert "www-authenticate" not in response.headers
