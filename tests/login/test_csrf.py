"""CSRF: a cookie-authenticated state-changing request needs an allowed Origin AND the session's token."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from fastapi_kc.login._csrf import origin_of, request_origin
from tests.login.conftest import APP_URL, LoginApp, log_in, same_site_headers
from tests.support.tokens import ISSUER, mint, user_claims


def test_a_post_from_the_apps_own_page_is_accepted(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    response = browser.post("/orders", headers=same_site_headers(browser))
    assert response.status_code == 200
    assert response.json() == {"ordered_by": "mario"}


def test_a_post_without_the_csrf_token_is_refused(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    response = browser.post("/orders", headers={"Origin": APP_URL})
    assert response.status_code == 403
    assert response.json()["detail"] == "the CSRF token is missing (header X-CSRF-Token)"


def test_a_post_with_another_sessions_token_is_refused(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    response = browser.post("/orders", headers={"Origin": APP_URL, "X-CSRF-Token": "a" * 43})
    assert response.status_code == 403
    assert response.json()["detail"] == "the CSRF token does not match this session"


def test_a_post_from_another_site_is_refused_even_with_the_token(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    headers = same_site_headers(browser) | {"Origin": "https://evil.example"}
    response = browser.post("/orders", headers=headers)
    assert response.status_code == 403
    assert response.json()["detail"] == "the request comes from a site that is not allowed"


def test_a_post_that_hides_its_origin_is_refused(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    headers = same_site_headers(browser)
    del headers["Origin"]
    assert browser.post("/orders", headers=headers).status_code == 403
    assert browser.post("/orders", headers=headers | {"Origin": "null"}).status_code == 403


def test_a_bearer_token_needs_no_csrf_token(browser: TestClient, signing_key: object) -> None:
    token = mint(user_claims(), signing_key)  # type: ignore[arg-type]
    response = browser.post("/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_logout_without_the_csrf_token_is_refused_and_the_session_stays(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    response = browser.post("/auth/logout", headers={"Origin": APP_URL})
    assert response.status_code == 403
    assert browser.get("/me").status_code == 200


def test_logout_ends_the_session_and_sends_the_browser_to_keycloak(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    token = browser.get("/csrf").json()["csrf_token"]
    old_cookie = browser.cookies["fastapi_kc_session"]
    response = browser.post("/auth/logout", data={"csrf_token": token}, headers={"Origin": APP_URL})
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISSUER}/protocol/openid-connect/logout"
    assert query["post_logout_redirect_uri"] == f"{APP_URL}/"
    assert query["client_id"] == "shop-bff"
    assert query["id_token_hint"].count(".") == 2
    assert len(shop.store) == 0
    assert browser.get("/me").status_code == 401
    browser.cookies.set("fastapi_kc_session", old_cookie)  # an old copy of the cookie, replayed
    replayed = browser.get("/me")
    assert replayed.status_code == 401
    assert replayed.json()["detail"] == "the login session has ended: log in again"


def test_logout_returns_only_to_an_allowed_page(browser: TestClient, shop: LoginApp) -> None:
    log_in(browser, shop)
    token = browser.get("/csrf").json()["csrf_token"]
    data = {"csrf_token": token, "next": "https://evil.example/"}
    response = browser.post("/auth/logout", data=data, headers={"Origin": APP_URL})
    assert response.status_code == 400
    assert browser.get("/me").status_code == 200


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://localhost:8000/page?x=1", "http://localhost:8000"),
        ("HTTPS://Shop.Example.com:443/", "https://shop.example.com"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("javascript:alert(1)", None),
        ("https://", None),
        ("http://host:99999", None),
    ],
)
def test_origins_are_normalised(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


@pytest.mark.parametrize(
    ("headers", "origin"),
    [
        ([(b"origin", b"http://localhost:8000")], "http://localhost:8000"),
        ([(b"referer", b"http://localhost:8000/shop")], "http://localhost:8000"),
        ([(b"origin", b"null"), (b"referer", b"http://localhost:8000/")], None),
        ([(b"origin", b"http://a.example"), (b"origin", b"http://localhost:8000")], None),
        ([], None),
    ],
)
def test_the_request_origin_comes_from_origin_then_referer(
    headers: list[tuple[bytes, bytes]], origin: str | None
) -> None:
    assert request_origin(headers) == origin
