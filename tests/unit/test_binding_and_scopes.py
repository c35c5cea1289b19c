"""A principal counts only for the auth that verified it; `Security` scopes are enforced;
dependencies that could check nothing are refused when they are defined (issue 10, items 1, 2, 5).

Real FastAPI applications through `TestClient`; Keycloak is faked at the transport. Two auths
share the fake realm and differ by audience (`api` for the app-wide middleware, `billing` for
one route), the set-up in which a token for `api` used to open `billing`'s routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Security
from fastapi.testclient import TestClient
from starlette.requests import Request

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import AUDIENCE, SigningKey, mint, user_claims

BILLING = "billing"


@pytest.fixture
def api_auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> KeycloakAuth:
    return KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())


@pytest.fixture
def billing_auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> KeycloakAuth:
    values = {**settings_values, "audience": BILLING}
    return KeycloakAuth(KeycloakSettings(**values), http_client=fake_keycloak.client())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def two_audience_app(api_auth: KeycloakAuth, billing_auth: KeycloakAuth) -> FastAPI:
    """The middleware guards the whole app for `api`; `/invoices` also needs `billing`."""
    app = FastAPI(lifespan=billing_auth.lifespan)
    app.add_middleware(KeycloakMiddleware, auth=api_auth)

    @app.get("/invoices")
    async def invoices(
        request: Request,
        payer: Principal = Depends(billing_auth.principal),
        billing_customer: Principal = Depends(billing_auth.require_roles("customer")),
        caller: Principal = Depends(api_auth.principal),
    ) -> dict[str, Any]:
        return {
            "billing_once": payer is billing_customer,
            "api_principal_is_request_user": caller is request.user,
            "request_user_untouched": request.user is not payer,
        }

    @app.get("/billing-admin")
    async def billing_admin(admin: Principal = Depends(billing_auth.require_roles("admin"))) -> dict[str, str]:
        return {"subject": admin.subject}

    return app


# --- item 1: a principal is bound to the auth that verified it ----------------------------------


def test_a_token_for_the_middlewares_audience_does_not_open_a_route_of_another_audience(
    api_auth: KeycloakAuth, billing_auth: KeycloakAuth, signing_key: SigningKey
) -> None:
    api_only = mint(user_claims(aud=[AUDIENCE]), signing_key)
    with TestClient(two_audience_app(api_auth, billing_auth)) as client:
        response = client.get("/invoices", headers=bearer(api_only))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_for_both_audiences_opens_the_route_and_each_auth_gets_its_own_principal(
    api_auth: KeycloakAuth, billing_auth: KeycloakAuth, signing_key: SigningKey
) -> None:
    both = mint(user_claims(aud=[AUDIENCE, BILLING]), signing_key)
    with TestClient(two_audience_app(api_auth, billing_auth)) as client:
        response = client.get("/invoices", headers=bearer(both))
    assert response.status_code == 200
    assert response.json() == {
        "billing_once": True,
        "api_principal_is_request_user": True,
        "request_user_untouched": True,
    }


def test_the_second_auths_role_checks_run_on_a_principal_it_verified(
    api_auth: KeycloakAuth, billing_auth: KeycloakAuth, signing_key: SigningKey
) -> None:
    """An `api`-only token of an admin must not pass `billing`'s admin check."""
    admin_for_api = mint(user_claims(aud=[AUDIENCE], realm_access={"roles": ["admin"]}), signing_key)
    admin_for_both = mint(user_claims(aud=[AUDIENCE, BILLING], realm_access={"roles": ["admin"]}), signing_key)
    with TestClient(two_audience_app(api_auth, billing_auth)) as client:
        assert client.get("/billing-admin", headers=bearer(admin_for_api)).status_code == 401
        assert client.get("/billing-admin", headers=bearer(admin_for_both)).status_code == 200


def test_a_principal_built_by_hand_in_scope_user_is_not_taken_for_a_verified_one(
    api_auth: KeycloakAuth, signing_key: SigningKey
) -> None:
    """Any code that writes `scope["user"]` (another middleware, a test double) proves nothing."""
    app = FastAPI(lifespan=api_auth.lifespan)

    @app.middleware("http")
    async def impersonate(request: Request, call_next: Callable[[Request], Any]) -> Any:
        request.scope["user"] = Principal({"sub": "someone-else", "realm_access": {"roles": ["admin"]}})
        return await call_next(request)

    @app.get("/admin")
    async def admin(caller: Principal = Depends(api_auth.require_roles("admin"))) -> dict[str, str]:
        return {"subject": caller.subject}

    with TestClient(app) as client:
        assert client.get("/admin").status_code == 401
        assert client.get("/admin", headers=bearer(mint(user_claims(), signing_key))).status_code == 403


# --- item 2: Security(..., scopes=[...]) is enforced ------------------------------------------------


def scoped_app(auth: KeycloakAuth, *, middleware: bool = False) -> FastAPI:
    app = FastAPI(lifespan=auth.lifespan)
    if middleware:
        app.add_middleware(KeycloakMiddleware, auth=auth, public_paths=["/maybe"])

    @app.get("/write")
    async def write(caller: Principal = Security(auth.principal, scopes=["orders:write"])) -> dict[str, str]:
        return {"subject": caller.subject}

    @app.get("/customer-write")
    async def customer_write(
        caller: Principal = Security(auth.require_roles("customer"), scopes=["profile", "orders:write"]),
    ) -> dict[str, str]:
        return {"subject": caller.subject}

    @app.get("/maybe")
    async def maybe(caller: Principal | None = Security(auth.optional_principal, scopes=["orders:write"])) -> Any:
        return {"subject": caller.subject if caller else None}

    @app.get("/profile")
    async def profile(caller: Principal = Depends(auth.require_scopes("profile", "orders:write", "billing"))) -> Any:
        return {"subject": caller.subject}

    return app


@pytest.mark.parametrize("middleware", [False, True], ids=["dependency-verifies", "middleware-verified"])
@pytest.mark.parametrize("path", ["/write", "/customer-write", "/maybe"])
def test_a_token_without_a_security_scope_is_refused_403_naming_the_missing_scope(
    api_auth: KeycloakAuth, signing_key: SigningKey, middleware: bool, path: str
) -> None:
    token = mint(user_claims(scope="openid profile email"), signing_key)
    with TestClient(scoped_app(api_auth, middleware=middleware)) as client:
        response = client.get(path, headers=bearer(token))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="demo", error="insufficient_scope", '
        'error_description="requires scope(s) orders:write", scope="orders:write"'
    )


@pytest.mark.parametrize("middleware", [False, True], ids=["dependency-verifies", "middleware-verified"])
@pytest.mark.parametrize("path", ["/write", "/customer-write", "/maybe"])
def test_a_token_with_the_security_scopes_passes(
    api_auth: KeycloakAuth, signing_key: SigningKey, middleware: bool, path: str
) -> None:
    token = mint(user_claims(scope="openid profile orders:write"), signing_key)
    with TestClient(scoped_app(api_auth, middleware=middleware)) as client:
        response = client.get(path, headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"subject": "0b5c6e1a-user-mario"}


def test_an_anonymous_caller_of_an_optional_route_with_scopes_is_still_let_through(api_auth: KeycloakAuth) -> None:
    with TestClient(scoped_app(api_auth)) as client:
        assert client.get("/maybe").json() == {"subject": None}


def test_require_scopes_names_only_the_missing_scopes_in_the_challenge(
    api_auth: KeycloakAuth, signing_key: SigningKey
) -> None:
    token = mint(user_claims(scope="openid profile"), signing_key)
    with TestClient(scoped_app(api_auth)) as client:
        response = client.get("/profile", headers=bearer(token))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"].endswith(', scope="orders:write billing"')
    assert response.json()["detail"] == "requires scope(s) orders:write billing"


# --- item 5: dependencies that would check nothing fail when defined -----------------------------


@pytest.mark.parametrize(
    "define",
    [
        pytest.param(lambda auth: auth.require_roles(), id="require_roles"),
        pytest.param(lambda auth: auth.require_roles(client="shop"), id="require_roles-client"),
        pytest.param(lambda auth: auth.require_any_role(), id="require_any_role"),
        pytest.param(lambda auth: auth.require_scopes(), id="require_scopes"),
        pytest.param(lambda auth: auth.roles_required(), id="roles_required"),
    ],
)
def test_a_role_or_scope_dependency_without_arguments_is_refused_when_defined(
    api_auth: KeycloakAuth, define: Callable[[KeycloakAuth], object]
) -> None:
    with pytest.raises(ValueError, match="at least one"):
        define(api_auth)


@pytest.mark.parametrize(
    "define",
    [
        pytest.param(lambda auth: auth.require_roles(["admin", "customer"]), id="a-list-instead-of-arguments"),
        pytest.param(lambda auth: auth.require_any_role("admin", ""), id="an-empty-role"),
        pytest.param(lambda auth: auth.require_scopes(None), id="not-a-string"),
        pytest.param(lambda auth: auth.require_roles("admin", client=""), id="an-empty-client"),
    ],
)
def test_a_role_or_scope_that_is_not_a_non_empty_string_is_refused_when_defined(
    api_auth: KeycloakAuth, define: Callable[[KeycloakAuth], object]
) -> None:
    with pytest.raises(TypeError, match="non-empty string"):
        define(api_auth)
