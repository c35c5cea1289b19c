"""Step-up (RFC 9470) with the `acr` and `auth_time` Keycloak really issues.

The demo realm maps levels of authentication to names (Realm settings > General > ACR to LoA
mapping: silver = 1, gold = 2), so a password login carries `acr: "silver"`, and a route that
requires "gold" refuses it with the challenge a client needs to step up.

Keycloak 26.5 writes `auth_time` only for interactive logins (a password grant has none), so the
age checks log in through Keycloak's own login form (authorization code with PKCE), driven over
HTTP as a browser would.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, Principal
from keycloak_dev import KeycloakServer
from tests.integration.conftest import PASSWORDS, claims_of, settings_for, user_token

REDIRECT_URI = "http://localhost:8000/callback"  # one of web's redirect URIs; nothing listens there


def login_form_token(keycloak: KeycloakServer, username: str) -> str:
    """An access token from a login on Keycloak's login page (code flow, PKCE S256), via `web`."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"client_id": "web", "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid",
             "state": secrets.token_urlsafe(8), "code_challenge": challenge,
             "code_challenge_method": "S256"}  # fmt: skip
    with httpx.Client(follow_redirects=False, timeout=30) as http:
        page = http.get(f"{keycloak.public_url}/realms/demo/protocol/openid-connect/auth", params=query)
        # Keycloak's cookies are `Secure`; over plain http a browser on localhost still sends them.
        cookies = "; ".join(item.split(";")[0] for item in page.headers.get_list("set-cookie"))
        form = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
        assert form is not None, page.text[:500]
        credentials = {"username": username, "password": PASSWORDS[username], "credentialId": ""}
        answer = http.post(html.unescape(form.group(1)), data=credentials, headers={"Cookie": cookies})
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        tokens = http.post(f"{keycloak.internal_url}/realms/demo/protocol/openid-connect/token", data={
            "grant_type": "authorization_code", "client_id": "web", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        }).json()  # fmt: skip
    return str(tokens["access_token"])


def step_up_app(keycloak: KeycloakServer, clock: Callable[[], float] = time.time) -> FastAPI:
    auth = KeycloakAuth(settings_for(keycloak), clock=clock)
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/silver")
    async def silver(principal: Principal = Depends(auth.require_acr("silver"))) -> dict[str, Any]:
        return {"username": principal.username}

    @app.get("/gold")
    async def gold(principal: Principal = Depends(auth.require_acr("gold"))) -> dict[str, Any]:
        return {"username": principal.username}

    @app.get("/recent")
    async def recent(principal: Principal = Depends(auth.require_auth_age(60))) -> dict[str, Any]:
        return {"username": principal.username}

    return app


def get(app: FastAPI, path: str, token: str) -> httpx.Response:
    with TestClient(app) as client:
        return client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_a_password_login_carries_keycloaks_mapped_level_silver(keycloak: KeycloakServer) -> None:
    token = user_token(keycloak, "mario")
    assert claims_of(token)["acr"] == "silver"
    assert get(step_up_app(keycloak), "/silver", token).json() == {"username": "mario"}


def test_a_silver_login_is_refused_where_gold_is_required_with_the_step_up_challenge(keycloak: KeycloakServer) -> None:
    response = get(step_up_app(keycloak), "/gold", user_token(keycloak, "mario"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="demo", error="insufficient_user_authentication", '
        'error_description="requires authentication level gold", acr_values="gold"'
    )


def test_a_fresh_interactive_login_passes_the_age_check(keycloak: KeycloakServer) -> None:
    token = login_form_token(keycloak, "mario")
    assert claims_of(token)["acr"] == "silver" and isinstance(claims_of(token)["auth_time"], int)
    assert get(step_up_app(keycloak), "/recent", token).json() == {"username": "mario"}


def test_the_same_login_two_minutes_later_is_refused_with_max_age(keycloak: KeycloakServer) -> None:
    token = login_form_token(keycloak, "mario")
    two_minutes_later = claims_of(token)["auth_time"] + 120  # the token itself is still valid (300 s)
    response = get(step_up_app(keycloak, clock=lambda: two_minutes_later), "/recent", token)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].endswith(
        'error="insufficient_user_authentication", '
        'error_description="requires an authentication within the last 60 seconds", max_age="60"'
    )


def test_a_password_grant_token_has_no_auth_time_and_cannot_pass_an_age_check(keycloak: KeycloakServer) -> None:
    token = user_token(keycloak, "mario")
    assert "auth_time" not in claims_of(token)
    assert get(step_up_app(keycloak), "/recent", token).status_code == 401
