"""The login flow on Authlib: authorization code with PKCE S256, state and nonce, two Keycloak URLs."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from urllib.parse import parse_qs, urlsplit

import itsdangerous
import pytest
from fastapi.testclient import TestClient

from tests.login.conftest import APP_URL, SECRET_KEY, LoginApp, log_in, start_login
from tests.login.fake import CLIENT_ID
from tests.support.fake_keycloak import TOKEN_PATH
from tests.support.tokens import INTERNAL_URL, ISSUER


def cookie_contents(browser: TestClient) -> dict[str, object]:
    """What the browser's session cookie holds, unsigned (the browser can read it too)."""
    signed = browser.cookies["fastapi_kc_session"]
    data: dict[str, object] = json.loads(base64.b64decode(itsdangerous.TimestampSigner(SECRET_KEY).unsign(signed)))
    return data


def test_login_sends_the_browser_to_the_public_authorization_endpoint_with_pkce_state_and_nonce(
    browser: TestClient,
) -> None:
    response = browser.get("/auth/login")
    location = urlsplit(response.headers["location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISSUER}/protocol/openid-connect/auth"
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"{APP_URL}/auth/callback"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["state"] and query["nonce"]
    assert set(query["scope"].split()) == {"openid", "profile", "email"}


def test_the_pkce_verifier_and_nonce_stay_on_the_server(browser: TestClient, shop: LoginApp) -> None:
    query = start_login(browser)
    cookie = json.dumps(cookie_contents(browser))
    assert query["nonce"] not in cookie
    assert "code_verifier" not in cookie
    assert "exp" in cookie  # only Authlib's marker that this browser started this login


def test_the_callback_redeems_the_code_on_the_internal_url_with_the_verifier(
    browser: TestClient, shop: LoginApp
) -> None:
    query = start_login(browser)
    code = shop.keycloak.authorize(query)
    response = browser.get("/auth/callback", params={"code": code, "state": query["state"]})
    assert response.status_code == 303
    (token_request,) = [r for r in shop.keycloak.requests if r.url.path == TOKEN_PATH]
    assert str(token_request.url) == f"{INTERNAL_URL}{TOKEN_PATH}"
    form = {k: v[0] for k, v in parse_qs(token_request.content.decode()).items()}
    digest = base64.urlsafe_b64encode(hashlib.sha256(form["code_verifier"].encode()).digest()).rstrip(b"=")
    assert digest.decode() == query["code_challenge"]


def test_after_login_the_browser_holds_only_a_session_id_and_is_signed_in(browser: TestClient, shop: LoginApp) -> None:
    assert log_in(browser, shop, next_path="/me") == "/me"
    assert set(cookie_contents(browser)) == {"sid"}
    assert browser.get("/me").json() == {"username": "mario"}
    assert len(shop.store) == 1


def test_a_login_returns_only_to_a_path_of_this_app(browser: TestClient, shop: LoginApp) -> None:
    assert log_in(browser, shop, next_path="https://evil.example/steal") == "/"


def test_a_callback_with_a_foreign_state_is_refused(browser: TestClient, shop: LoginApp) -> None:
    query = start_login(browser)
    code = shop.keycloak.authorize(query)
    response = browser.get("/auth/callback", params={"code": code, "state": "forged"})
    assert response.status_code == 400
    assert response.json() == {"detail": "this login was not started here or was already used: log in again"}
    assert browser.get("/me").status_code == 401


def test_a_callback_cannot_be_replayed(browser: TestClient, shop: LoginApp) -> None:
    query = start_login(browser)
    code = shop.keycloak.authorize(query)
    assert browser.get("/auth/callback", params={"code": code, "state": query["state"]}).status_code == 303
    again = browser.get("/auth/callback", params={"code": code, "state": query["state"]})
    assert again.status_code == 400


def test_a_callback_in_another_browser_is_refused(shop: LoginApp, browser: TestClient) -> None:
    """Login CSRF (RFC 6749 §10.12): an attacker's code and state, delivered to the victim's browser."""
    query = start_login(browser)
    code = shop.keycloak.authorize(query, username="attacker")
    with TestClient(shop.app, base_url=APP_URL, follow_redirects=False) as victim:
        response = victim.get("/auth/callback", params={"code": code, "state": query["state"]})
        assert response.status_code == 400
        assert victim.get("/me").status_code == 401


def test_an_id_token_with_another_nonce_is_refused(browser: TestClient, shop: LoginApp) -> None:
    shop.keycloak.id_token_nonce = "a-replayed-id-token"
    query = start_login(browser)
    code = shop.keycloak.authorize(query)
    response = browser.get("/auth/callback", params={"code": code, "state": query["state"]})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("the ID token failed its checks")
    assert len(shop.store) == 0


def test_a_login_keycloak_refused_is_a_400_naming_its_error(browser: TestClient) -> None:
    query = start_login(browser)
    response = browser.get("/auth/callback", params={"error": "access_denied", "state": query["state"]})
    assert response.status_code == 400
    assert response.json() == {"detail": "Keycloak refused the login (access_denied): log in again"}


def test_a_callback_while_keycloak_is_unreachable_is_a_503(browser: TestClient, shop: LoginApp) -> None:
    query = start_login(browser)
    code = shop.keycloak.authorize(query)
    shop.keycloak.down = True
    response = browser.get("/auth/callback", params={"code": code, "state": query["state"]})
    assert response.status_code == 503
    assert "Keycloak cannot be reached" in response.json()["detail"]


def test_each_login_gets_a_new_session_id(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    first = cookie_contents(browser)["sid"]
    log_in(browser, shop)
    assert cookie_contents(browser)["sid"] != first
    assert len(shop.store) == 1  # the earlier session ended


def test_an_error_in_the_callback_query_reaches_the_log_and_the_answer_escaped(
    browser: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone can call the callback with an `error` of their own: it must not forge a log line."""
    start_login(browser)
    with caplog.at_level(logging.INFO, logger="fastapi_kc.login"):
        response = browser.get("/auth/callback", params={"error": "access_denied\nfastapi_kc: forged line"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Keycloak refused the login (access_denied\\nfastapi_kc: forged line): log in again"
    }
    (record,) = [r for r in caplog.records if r.getMessage().startswith("login refused")]
    assert "\n" not in record.getMessage()
