"""Step-up (RFC 9470) with the `acr` and `auth_time` Keycloak really issues.

The demo realm maps levels of authentication to names (Realm settings > General > ACR to LoA
mapping: silver = 1, gold = 2), so a password login carries `acr: "silver"`, and a route that
requires "gold" refuses it with the challenge a client needs to step up.

Keycloak 26.5 writes `auth_time` only for interactive logins (a password grant has none), so the
age checks log in through Keycloak's own login form (authorization code with PKCE), driven over
HTTP as a browser would. The last test runs the whole step-up loop through a two-level login
flow: refused at silver, logged in again with the challenge's `acr_values`, accepted at gold.
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
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, Principal
from keycloak_dev import KeycloakServer
from tests.integration.conftest import PASSWORDS, claims_of, settings_for, user_token

REDIRECT_URI = "http://localhost:8000/callback"  # one of web's redirect URIs; nothing listens there


def login_form_token(
    keycloak: KeycloakServer, username: str, client_id: str = "web", acr_values: str | None = None
) -> str:
    """An access token from a login on Keycloak's login pages (code flow, PKCE S256).

    Each page's form is answered with the user's credentials until Keycloak redirects back:
    one page for a password login, two when a step-up flow asks for the password again.
    """
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"client_id": client_id, "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid",
             "state": secrets.token_urlsafe(8), "code_challenge": challenge,
             "code_challenge_method": "S256"}  # fmt: skip
    if acr_values is not None:
        query["acr_values"] = acr_values
    cookies: dict[str, str] = {}
    credentials = {"username": username, "password": PASSWORDS[username], "credentialId": ""}
    with httpx.Client(follow_redirects=False, timeout=30) as http:
        page = http.get(f"{keycloak.public_url}/realms/demo/protocol/openid-connect/auth", params=query)
        for _ in range(3):
            if page.status_code != 200:
                break
            # Keycloak's cookies are `Secure`; over plain http a browser on localhost still sends them.
            cookies.update(item.split(";")[0].split("=", 1) for item in page.headers.get_list("set-cookie"))
            form = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
            assert form is not None, page.text[:500]
            cookie_header = "; ".join(f"{name}={value}" for name, value in cookies.items())
            page = http.post(html.unescape(form.group(1)), data=credentials, headers={"Cookie": cookie_header})
        code = parse_qs(urlsplit(page.headers["location"]).query)["code"][0]
        tokens = http.post(f"{keycloak.internal_url}/realms/demo/protocol/openid-connect/token", data={
            "grant_type": "authorization_code", "client_id": client_id, "code": code, "redirect_uri": REDIRECT_URI,
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


# --- the whole RFC 9470 loop: refused, logged in again at the level named, accepted -------------

STEP_UP_FLOW = "step-up browser"


@pytest.fixture(scope="module")
def step_up_client(keycloak: KeycloakServer) -> str:
    """`step-up-web`, a login client whose browser flow knows two levels (made here, not in the realm file).

    Level 1 (silver): username and password. Level 2 (gold): the password asked again, standing
    in for a second factor. Each level is a conditional subflow with *Condition - Level of
    Authentication*, as Keycloak's step-up documentation builds it.
    """
    for client in keycloak.admin("GET", "demo/clients?clientId=step-up-web"):
        keycloak.admin("DELETE", f"demo/clients/{client['id']}")  # first: it holds the flow
    for flow in keycloak.admin("GET", "demo/authentication/flows"):
        if flow["alias"] == STEP_UP_FLOW:
            keycloak.admin("DELETE", f"demo/authentication/flows/{flow['id']}")
    keycloak.admin("POST", "demo/authentication/flows",
                   {"alias": STEP_UP_FLOW, "providerId": "basic-flow", "topLevel": True, "builtIn": False})  # fmt: skip
    for level, name, step in ((1, "silver", "auth-username-password-form"), (2, "gold", "auth-password-form")):
        subflow = f"{name} level"
        _add_execution(keycloak, STEP_UP_FLOW, "CONDITIONAL", subflow=subflow)
        # loa-max-age 0 for gold: a gold login is asked for again whenever gold is requested.
        condition = {"loa-condition-level": str(level), "loa-max-age": "36000" if level == 1 else "0"}
        _add_execution(keycloak, subflow, "REQUIRED", provider="conditional-level-of-authentication", config=condition)
        _add_execution(keycloak, subflow, "REQUIRED", provider=step)
    flows = keycloak.admin("GET", "demo/authentication/flows")
    flow_id = next(flow["id"] for flow in flows if flow["alias"] == STEP_UP_FLOW)
    keycloak.admin("POST", "demo/clients", {
        "clientId": "step-up-web", "publicClient": True, "standardFlowEnabled": True,
        "directAccessGrantsEnabled": False,
        "redirectUris": ["http://localhost:8000/*"], "attributes": {"pkce.code.challenge.method": "S256"},
        "authenticationFlowBindingOverrides": {"browser": flow_id},
        "protocolMappers": [{"name": "audience-api", "protocol": "openid-connect",
                             "protocolMapper": "oidc-audience-mapper",
                             "config": {"included.client.audience": "api", "access.token.claim": "true"}}],
    })  # fmt: skip
    return "step-up-web"


def _add_execution(
    keycloak: KeycloakServer,
    flow: str,
    requirement: str,
    *,
    subflow: str | None = None,
    provider: str | None = None,
    config: dict[str, str] | None = None,
) -> None:
    path = f"demo/authentication/flows/{quote(flow)}/executions"
    before = {execution["id"] for execution in keycloak.admin("GET", path)}
    if subflow is not None:
        keycloak.admin("POST", f"{path}/flow", {"alias": subflow, "type": "basic-flow", "description": subflow})
    else:
        keycloak.admin("POST", f"{path}/execution", {"provider": provider})
    execution = next(e for e in keycloak.admin("GET", path) if e["id"] not in before)
    keycloak.admin("PUT", path, {**execution, "requirement": requirement})
    if config is not None:
        keycloak.admin("POST", f"demo/authentication/executions/{execution['id']}/config",
                       {"alias": f"{flow} {provider}", "config": config})  # fmt: skip


def test_a_client_that_logs_in_again_with_the_challenges_acr_values_gets_through(
    keycloak: KeycloakServer, step_up_client: str
) -> None:
    app = step_up_app(keycloak)
    silver = login_form_token(keycloak, "mario", client_id=step_up_client)
    refused = get(app, "/gold", silver)
    assert refused.status_code == 401
    acr_values = re.search(r'acr_values="([^"]+)"', refused.headers["WWW-Authenticate"])
    assert acr_values is not None and acr_values.group(1) == "gold"
    gold = login_form_token(keycloak, "mario", client_id=step_up_client, acr_values=acr_values.group(1))
    assert (claims_of(silver)["acr"], claims_of(gold)["acr"]) == ("silver", "gold")
    assert get(app, "/gold", gold).json() == {"username": "mario"}
