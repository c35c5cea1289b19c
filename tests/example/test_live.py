"""The example app under uvicorn against the real Keycloak: real tokens, every kind of caller.

What `make demo` serves, asserted route by route: who may call what (README, "The example").
"""

from __future__ import annotations

import httpx
import pytest

from tests.example.conftest import ServedApp, password_of, secret_of
from tests.example.test_readme import routes_table

pytestmark = pytest.mark.keycloak


def call(app: ServedApp, method: str, path: str, token: str | None = None, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{app.url}{path}", headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def test_public_paths_answer_without_a_token(served_app: ServedApp) -> None:
    assert call(served_app, "GET", "/health").json() == {"status": "ok"}
    assert call(served_app, "GET", "/docs").status_code == 200
    assert call(served_app, "GET", "/openapi.json").status_code == 200


def test_no_token_is_a_bearer_challenge(served_app: ServedApp) -> None:
    response = call(served_app, "GET", "/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="demo"'


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("mario", {"/me": 200, "/orders": 200, "/admin": 403, "/checkout": 200}),
        ("luigi", {"/me": 200, "/orders": 403, "/admin": 403, "/checkout": 403}),
        ("admin", {"/me": 200, "/orders": 403, "/admin": 200, "/checkout": 403}),
    ],
)
def test_who_may_call_what(served_app: ServedApp, username: str, expected: dict[str, int]) -> None:
    token = served_app.user_token(username)
    got = {path: call(served_app, "POST" if path == "/checkout" else "GET", path, token).status_code
           for path in expected}  # fmt: skip
    assert got == expected


def test_me_shows_marios_profile_from_his_real_token(served_app: ServedApp) -> None:
    body = call(served_app, "GET", "/me", served_app.user_token("mario")).json()
    assert (body["username"], body["name"], body["email"]) == ("mario", "Mario Rossi", "mario@example.test")
    assert body["api_roles"] == ["orders:read"]
    assert body["service_account"] is False


@pytest.mark.parametrize(
    ("client_id", "shape"), [("web", "boolean"), ("legacy-portal", "list"), ("shop-api", "string")]
)
def test_checkout_accepts_every_shape_keycloak_gives_can_checkout(
    served_app: ServedApp, client_id: str, shape: str
) -> None:
    # Each client of the realm maps the attribute with another JSON type (field notes §4).
    secret = secret_of(client_id) if client_id == "shop-api" else None
    response = served_app.keycloak.token(
        client_id, username="mario", password=password_of("mario"), client_secret=secret
    )
    claim = _claims(response["access_token"])["canCheckout"]
    assert {"boolean": claim is True, "list": claim == ["true"], "string": claim == "true"}[shape], claim
    assert call(served_app, "POST", "/checkout", response["access_token"]).status_code == 200


def test_internal_notify_accepts_only_the_shop_api_service_account(served_app: ServedApp) -> None:
    ok = call(served_app, "POST", "/internal/notify", served_app.service_token("shop-api"), json={"order": 1})
    assert ok.status_code == 200
    assert ok.json() == {"accepted": {"order": 1}, "caller": "shop-api"}
    # rogue's tokens do not even name this API in `aud` (no audience mapper): refused as invalid.
    rogue = call(served_app, "POST", "/internal/notify", served_app.service_token("rogue"), json={})
    assert rogue.status_code == 401
    assert 'error="invalid_token"' in rogue.headers["www-authenticate"]
    assert call(served_app, "POST", "/internal/notify", served_app.user_token("mario"), json={}).status_code == 403


def test_ship_calls_the_notification_route_with_the_services_own_token(served_app: ServedApp) -> None:
    # admin may ship; the app then calls /internal/notify over HTTP with a client-credentials token
    # of shop-api, which only that service account may call.
    response = call(served_app, "POST", "/orders/42/ship", served_app.user_token("admin"))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "order": 42,
        "shipped": True,
        "notification": {"accepted": {"order": 42, "event": "shipped"}, "caller": "shop-api"},
    }
    assert call(served_app, "POST", "/orders/42/ship", served_app.user_token("mario")).status_code == 403


def _claims(token: str) -> dict[str, object]:
    import base64
    import json

    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_readme_routes_table_is_what_real_tokens_get(served_app: ServedApp) -> None:
    """Every HTTP cell of the README's table with real tokens (the WebSocket row is checked in
    test_readme.py: the test environment's uvicorn has no WebSocket implementation installed)."""
    tokens: dict[str, str] = {}
    for routes, expected in routes_table():
        for username, outcome in expected.items():
            token = tokens.setdefault(username, served_app.user_token(username))
            for method, path in routes:
                if method == "WS":
                    continue
                got = str(call(served_app, method, path, token, json={}).status_code)
                assert (method, path, username, got) == (method, path, username, outcome)
