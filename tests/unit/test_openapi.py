"""What OpenAPI (and so Swagger UI) says about `KeycloakAuth`'s routes: the refusals each route
may answer, the scopes it requires, the scopes the login may ask for, one pair of schemes per
auth; and how deep the dependency trees are that FastAPI solves on every request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Security
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal
from tests.support.fake_keycloak import FakeKeycloak

BEARER = "KeycloakBearer.demo.api"
LOGIN = "KeycloakLogin.demo.api"


def build_app(auth: KeycloakAuth) -> FastAPI:
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    async def me(user: Principal = Depends(auth.principal)) -> dict[str, str]:
        return {"subject": user.subject}

    @app.get("/maybe")
    async def maybe(user: Principal | None = Depends(auth.optional_principal)) -> dict[str, bool]:
        return {"signed_in": user is not None}

    @app.get("/admin")
    async def admin(user: Principal = Depends(auth.require_roles("admin"))) -> dict[str, str]:
        return {"subject": user.subject}

    @app.get("/decorated")
    @auth.roles_required("admin")
    async def decorated() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/orders")
    async def place(user: Principal = Security(auth.principal, scopes=["orders:write"])) -> dict[str, str]:
        return {"subject": user.subject}

    @app.get("/profile")
    async def profile(user: Principal = Depends(auth.require_scopes("profile", "email"))) -> dict[str, str]:
        return {"subject": user.subject}

    return app


PROTECTED = [("get", "/me"), ("get", "/maybe"), ("get", "/admin"), ("get", "/decorated"), ("post", "/orders"),
             ("get", "/profile")]  # fmt: skip


@pytest.fixture
def auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> KeycloakAuth:
    return KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())


@pytest.fixture
def schema(auth: KeycloakAuth) -> Iterator[dict[str, Any]]:
    with TestClient(build_app(auth)) as client:
        yield client.get("/openapi.json").json()


# --- refusals ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("status", ["401", "403", "503"])
def test_every_route_with_an_auth_dependency_documents_its_refusals(
    schema: dict[str, Any], method: str, path: str, status: str
) -> None:
    response = schema["paths"][path][method]["responses"][status]
    body = response["content"]["application/json"]["schema"]
    assert body["properties"]["detail"]["type"] == "string"
    assert "detail" in body["required"]
    assert response["description"]


def test_a_route_without_auth_documents_no_refusal(schema: dict[str, Any]) -> None:
    assert set(schema["paths"]["/health"]["get"]["responses"]) == {"200"}


def test_a_routes_own_description_of_a_refusal_is_kept(auth: KeycloakAuth) -> None:
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/me", responses={403: {"description": "Not a shop customer"}})
    async def me(user: Principal = Depends(auth.principal)) -> dict[str, str]:
        return {"subject": user.subject}

    with TestClient(app) as client:
        responses = client.get("/openapi.json").json()["paths"]["/me"]["get"]["responses"]
    assert responses["403"]["description"] == "Not a shop customer"
    assert "401" in responses


# --- scopes ----------------------------------------------------------------------------------------------


def test_security_scopes_appear_in_the_routes_security_requirement(schema: dict[str, Any]) -> None:
    security = schema["paths"]["/orders"]["post"]["security"]
    assert {BEARER: ["orders:write"]} in security
    assert {LOGIN: ["orders:write"]} in security


def test_require_scopes_appear_in_the_routes_security_requirement(schema: dict[str, Any]) -> None:
    security = schema["paths"]["/profile"]["get"]["security"]
    assert {BEARER: ["profile", "email"]} in security
    assert {LOGIN: ["profile", "email"]} in security


def test_the_login_lists_the_scopes_a_client_may_request(schema: dict[str, Any]) -> None:
    scopes = schema["components"]["securitySchemes"][LOGIN]["flows"]["authorizationCode"]["scopes"]
    assert {"openid", "profile", "email", "orders:write"} <= set(scopes)
    assert all(isinstance(description, str) and description for description in scopes.values())


# --- several auths in one app -------------------------------------------------------------------------


def two_auths(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any], **second: Any) -> FastAPI:
    shop = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())
    partners = KeycloakAuth(
        KeycloakSettings(**{**settings_values, "audience": "partner-api"}), http_client=fake_keycloak.client(), **second
    )
    app = FastAPI()
    shop.document_openapi(app)
    partners.document_openapi(app)

    @app.get("/shop")
    async def shop_route(user: Principal = Depends(shop.principal)) -> dict[str, str]:
        return {"subject": user.subject}

    @app.get("/partners")
    async def partners_route(user: Principal = Depends(partners.principal)) -> dict[str, str]:
        return {"subject": user.subject}

    return app


def test_two_auths_get_distinct_scheme_names_from_realm_and_audience(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]
) -> None:
    schema = TestClient(two_auths(fake_keycloak, settings_values)).get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert set(schemes) == {BEARER, LOGIN, "KeycloakBearer.demo.partner-api", "KeycloakLogin.demo.partner-api"}
    assert "partner-api" in schemes["KeycloakBearer.demo.partner-api"]["description"]
    shop = {name for requirement in schema["paths"]["/shop"]["get"]["security"] for name in requirement}
    partners = {name for requirement in schema["paths"]["/partners"]["get"]["security"] for name in requirement}
    assert (shop, partners) == ({BEARER, LOGIN}, {"KeycloakBearer.demo.partner-api", "KeycloakLogin.demo.partner-api"})


def test_scheme_name_overrides_the_derived_name(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> None:
    app = two_auths(fake_keycloak, settings_values, scheme_name="Partners")
    schemes = TestClient(app).get("/openapi.json").json()["components"]["securitySchemes"]
    assert set(schemes) == {BEARER, LOGIN, "KeycloakBearer.Partners", "KeycloakLogin.Partners"}


@pytest.mark.parametrize("name", ["", "two words", "a/b", 7])
def test_a_scheme_name_openapi_cannot_carry_is_refused(settings_values: dict[str, Any], name: Any) -> None:
    with pytest.raises(ValueError, match="scheme_name"):
        KeycloakAuth(KeycloakSettings(**settings_values), scheme_name=name)


def test_derived_scheme_names_keep_to_the_characters_openapi_allows(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]
) -> None:
    auth = KeycloakAuth(
        KeycloakSettings(**{**settings_values, "audience": "urn:shop api,orders"}), http_client=fake_keycloak.client()
    )
    app = FastAPI()

    @app.get("/me")
    async def me(user: Principal = Depends(auth.principal)) -> dict[str, str]:
        return {"subject": user.subject}

    auth.document_openapi(app)
    schemes = TestClient(app).get("/openapi.json").json()["components"]["securitySchemes"]
    assert set(schemes) == {"KeycloakBearer.demo.urn_shop_api.orders", "KeycloakLogin.demo.urn_shop_api.orders"}


# --- what FastAPI solves per request --------------------------------------------------------------------


def solved_per_request(app: FastAPI, path: str) -> tuple[int, int]:
    """(dependencies FastAPI solves for the route on every request, depth of the tree)."""
    route = next(r for r in app.routes if isinstance(r, APIRoute) and r.path == path)

    def count(dependant: Any) -> int:
        return sum(1 + count(sub) for sub in dependant.dependencies)

    def depth(dependant: Any) -> int:
        return max((1 + depth(sub) for sub in dependant.dependencies), default=0)

    return count(route.dependant), depth(route.dependant)


def test_the_principal_is_one_dependency_where_httpbearer_and_a_lookup_are_two(auth: KeycloakAuth) -> None:
    assert solved_per_request(build_app(auth), "/me") == (1, 1)


@pytest.mark.parametrize("path", ["/admin", "/decorated", "/profile"])
def test_role_and_scope_checks_add_one_level_over_the_principal(auth: KeycloakAuth, path: str) -> None:
    assert solved_per_request(build_app(auth), path) == (2, 2)


def test_the_principal_still_declares_the_bearer_field_and_the_login(schema: dict[str, Any]) -> None:
    assert schema["paths"]["/me"]["get"]["security"] == [{BEARER: []}, {LOGIN: []}]
    assert schema["components"]["securitySchemes"][BEARER]["scheme"] == "bearer"
    assert schema["components"]["securitySchemes"][LOGIN]["type"] == "oauth2"


def test_the_middleware_documents_the_refusals_too(auth: KeycloakAuth) -> None:
    app = FastAPI()  # no lifespan=auth.lifespan: the middleware starts the auth

    @app.get("/me")
    async def me(user: Principal = Depends(auth.principal)) -> dict[str, str]:
        return {"subject": user.subject}

    app.add_middleware(KeycloakMiddleware, auth=auth, public_paths=["/openapi.json"])
    with TestClient(app) as client:
        responses = client.get("/openapi.json").json()["paths"]["/me"]["get"]["responses"]
    assert {"401", "403", "503"} <= set(responses)


def test_document_openapi_serves_an_app_started_another_way(auth: KeycloakAuth) -> None:
    app = build_app(auth)
    auth.document_openapi(app)  # e.g. to export the schema without starting the app
    responses = app.openapi()["paths"]["/admin"]["get"]["responses"]
    assert {"401", "403", "503"} <= set(responses)
