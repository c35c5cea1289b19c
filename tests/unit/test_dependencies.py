"""The FastAPI face of `KeycloakAuth`: each dependency and the decorator, through a real app.

Every test drives a real FastAPI application through `TestClient`, with its lifespan running
`auth.lifespan` and Keycloak faked at the transport. This module uses string annotations
(`from __future__ import annotations`) on purpose: the decorator must resolve them, user types
included.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel

from fastapi_kc import KeycloakAuth, KeycloakSettings, Principal
from fastapi_kc.metrics import CountingMetrics
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import AUDIENCE, ISSUER, PUBLIC_URL, SigningKey, mint, service_claims, user_claims

CHALLENGE_WITHOUT_ERROR = 'Bearer realm="demo"'


class Size(enum.StrEnum):
    """A user type, used by a decorated route through a string annotation."""

    small = "small"
    large = "large"


class Order(BaseModel):
    """A request body model, used by a decorated route through a string annotation."""

    item: str
    quantity: int


def build_app(auth: KeycloakAuth) -> FastAPI:
    """One route per dependency, plus decorated routes; each answers with what it was given."""
    app = FastAPI(lifespan=auth.lifespan, swagger_ui_init_oauth=auth.swagger_ui_oauth("web"))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    async def me(principal: Principal = Depends(auth.principal)) -> dict[str, Any]:
        return {"subject": principal.subject}

    @app.get("/maybe")
    async def maybe(principal: Principal | None = Depends(auth.optional_principal)) -> dict[str, Any]:
        return {"subject": principal.subject if principal else None}

    @app.get("/customers")
    async def customers(principal: Principal = Depends(auth.require_roles("customer"))) -> dict[str, Any]:
        return {"subject": principal.subject}

    @app.get("/admin")
    async def admin(principal: Principal = Depends(auth.require_roles("admin"))) -> dict[str, Any]:
        return {"subject": principal.subject}

    @app.get("/orders")
    def orders(principal: Principal = Depends(auth.require_roles("orders:read", client=AUDIENCE))) -> dict[str, Any]:
        return {"subject": principal.subject}

    @app.get("/all-of")
    def all_of(principal: Principal = Depends(auth.require_roles("customer", "admin"))) -> dict[str, Any]:
        return {"subject": principal.subject}

    @app.get("/any-of")
    def any_of(principal: Principal = Depends(auth.require_any_role("admin", "customer"))) -> dict[str, Any]:
        return {"subject": principal.subject}

    @app.get("/profile")
    def profile(principal: Principal = Depends(auth.require_scopes("profile", "email"))) -> dict[str, Any]:
        return {"subject": principal.subject}

    @app.get("/internal")
    def internal(principal: Principal = Depends(auth.require_service_account("shop-api"))) -> dict[str, Any]:
        return {"subject": principal.subject}

    @app.get("/any-service")
    def any_service(principal: Principal = Depends(auth.require_service_account())) -> dict[str, Any]:
        return {"subject": principal.subject}

    @app.get("/decorated/sync/{item_id}")
    @auth.roles_required("customer")
    def decorated_sync(
        item_id: int, size: Size = Size.small, limit: Annotated[int, Query(ge=1, le=100)] = 10
    ) -> dict[str, Any]:
        return {"item_id": item_id, "size": size, "limit": limit}

    @app.post("/decorated/async/{item_id}")
    @auth.roles_required("orders:read", client=AUDIENCE)
    async def decorated_async(item_id: int, order: Order, size: Size = Size.small) -> dict[str, Any]:
        return {"item_id": item_id, "size": size, "order": order.model_dump()}

    @app.get("/decorated/admin")
    @auth.roles_required("admin")
    async def decorated_admin() -> dict[str, str]:
        return {"status": "ok"}

    return app


PROTECTED = [
    "/me",
    "/customers",
    "/admin",
    "/orders",
    "/all-of",
    "/any-of",
    "/profile",
    "/internal",
    "/any-service",
    "/decorated/sync/1",
    "/decorated/admin",
]


@pytest.fixture
def auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, object]) -> KeycloakAuth:
    return KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())


@pytest.fixture
def client(auth: KeycloakAuth) -> Iterator[TestClient]:
    with TestClient(build_app(auth)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_description(response: Any) -> str:
    match = re.search(r'error_description="([^"]*)"', response.headers["WWW-Authenticate"])
    assert match, response.headers["WWW-Authenticate"]
    return match.group(1)


# --- who may call ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PROTECTED)
def test_a_request_without_a_token_gets_a_bare_challenge(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE_WITHOUT_ERROR


@pytest.mark.parametrize("path", PROTECTED)
def test_a_forged_token_is_refused_as_invalid_token(client: TestClient, signing_key: SigningKey, path: str) -> None:
    forged = mint(user_claims(), SigningKey.rsa(signing_key.kid))
    response = client.get(path, headers=bearer(forged))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="demo", error="invalid_token"')
    assert error_description(response) == "token signature is invalid"


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(user_claims(exp=1_000_000_000), id="expired"),
        pytest.param(user_claims(aud=["account"]), id="other-audience"),
        pytest.param(user_claims(iss="http://keycloak.internal:8080/realms/demo"), id="internal-issuer"),
    ],
)
def test_a_token_not_for_this_api_is_refused_as_invalid_token(
    client: TestClient, signing_key: SigningKey, claims: dict[str, Any]
) -> None:
    response = client.get("/me", headers=bearer(mint(claims, signing_key)))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert error_description(response)


def test_a_valid_token_gives_the_route_its_principal(client: TestClient, signing_key: SigningKey) -> None:
    response = client.get("/me", headers=bearer(mint(user_claims(), signing_key)))
    assert response.status_code == 200
    assert response.json() == {"subject": "0b5c6e1a-user-mario"}


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_the_scheme_name_is_case_insensitive(client: TestClient, signing_key: SigningKey, scheme: str) -> None:
    response = client.get("/me", headers={"Authorization": f"{scheme} {mint(user_claims(), signing_key)}"})
    assert response.status_code == 200


def test_a_token_in_the_query_string_is_ignored(client: TestClient, signing_key: SigningKey) -> None:
    response = client.get("/me", params={"access_token": mint(user_claims(), signing_key)})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE_WITHOUT_ERROR


def test_two_authorization_headers_are_an_invalid_request(client: TestClient, signing_key: SigningKey) -> None:
    token = mint(user_claims(), signing_key)
    response = client.get("/me", headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")])
    assert response.status_code == 401
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


HOSTILE = 'x"\r\nSet-Cookie: stolen=1'


@pytest.mark.parametrize(
    ("header", "claims"),
    [
        pytest.param({}, user_claims(exp=1_000_000_000), id="expired"),
        pytest.param({}, user_claims(iss=f"{ISSUER}{HOSTILE}"), id="hostile-issuer"),
        pytest.param({}, user_claims(aud=[HOSTILE]), id="hostile-audience"),
        pytest.param({}, user_claims(typ=HOSTILE), id="hostile-type"),
        pytest.param({"kid": HOSTILE}, user_claims(), id="hostile-kid"),
        pytest.param({"alg": HOSTILE}, user_claims(), id="hostile-alg"),
        pytest.param({"crit": [HOSTILE]}, user_claims(), id="hostile-crit"),
    ],
)
def test_error_descriptions_carry_no_token_bytes_quotes_or_line_breaks(
    client: TestClient, signing_key: SigningKey, header: dict[str, Any], claims: dict[str, Any]
) -> None:
    token = mint(claims, signing_key, header)
    response = client.get("/me", headers=bearer(token))
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    described = [error_description(response), response.json()["detail"]]
    for text in described:
        assert text and '"' not in text and "\r" not in text and "\n" not in text
        assert "stolen" not in text
        assert not any(segment in text for segment in token.split("."))
    assert challenge.count('"') == 6  # realm, error and error_description, each quoted once


# --- what the caller must hold -------------------------------------------------------------------


def test_a_missing_realm_role_is_forbidden_as_insufficient_scope(client: TestClient, signing_key: SigningKey) -> None:
    response = client.get("/admin", headers=bearer(mint(user_claims(), signing_key)))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="demo", error="insufficient_scope"')
    assert "admin" in error_description(response)


@pytest.mark.parametrize(
    ("path", "realm_roles", "client_roles", "status"),
    [
        pytest.param("/customers", ["customer"], [], 200, id="realm-role-as-realm-role"),
        pytest.param("/customers", [], ["customer"], 403, id="client-role-is-not-a-realm-role"),
        pytest.param("/orders", [], ["orders:read"], 200, id="client-role-as-client-role"),
        pytest.param("/orders", ["orders:read"], [], 403, id="realm-role-is-not-a-client-role"),
    ],
)
def test_realm_roles_and_client_roles_are_never_mixed(
    client: TestClient,
    signing_key: SigningKey,
    path: str,
    realm_roles: list[str],
    client_roles: list[str],
    status: int,
) -> None:
    claims = user_claims(
        realm_access={"roles": realm_roles},
        resource_access={AUDIENCE: {"roles": client_roles}} if client_roles else None,
    )
    assert client.get(path, headers=bearer(mint(claims, signing_key))).status_code == status


@pytest.mark.parametrize(
    ("path", "roles", "status"),
    [
        pytest.param("/all-of", ["customer"], 403, id="all-of-with-one"),
        pytest.param("/all-of", ["customer", "admin"], 200, id="all-of-with-both"),
        pytest.param("/any-of", ["customer"], 200, id="any-of-with-one"),
        pytest.param("/any-of", ["admin"], 200, id="any-of-with-the-other"),
        pytest.param("/any-of", ["staff"], 403, id="any-of-with-none"),
    ],
)
def test_require_roles_needs_all_of_them_and_require_any_role_one_of_them(
    client: TestClient, signing_key: SigningKey, path: str, roles: list[str], status: int
) -> None:
    token = mint(user_claims(realm_access={"roles": roles}), signing_key)
    assert client.get(path, headers=bearer(token)).status_code == status


@pytest.mark.parametrize(
    ("scope", "status"),
    [
        pytest.param("openid profile email", 200, id="all-scopes"),
        pytest.param("openid profile", 403, id="one-missing"),
        pytest.param(None, 403, id="no-scope-claim"),
    ],
)
def test_require_scopes_needs_every_scope(
    client: TestClient, signing_key: SigningKey, scope: str | None, status: int
) -> None:
    response = client.get("/profile", headers=bearer(mint(user_claims(scope=scope), signing_key)))
    assert response.status_code == status
    if status == 403:
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("path", "claims", "status"),
    [
        pytest.param("/internal", lambda: service_claims("shop-api"), 200, id="listed-client"),
        pytest.param("/internal", lambda: service_claims("reporting"), 403, id="unlisted-client"),
        pytest.param("/internal", lambda: user_claims(), 403, id="user"),
        pytest.param(
            "/internal",
            lambda: user_claims(email=None, azp="shop-api", client_id="shop-api"),
            403,
            id="user-without-email-through-the-confidential-client",
        ),
        pytest.param("/any-service", lambda: service_claims("reporting"), 200, id="any-client-when-none-listed"),
        pytest.param("/any-service", lambda: user_claims(email=None), 403, id="user-without-email-when-none-listed"),
    ],
)
def test_require_service_account_accepts_only_service_accounts_of_the_listed_clients(
    client: TestClient, signing_key: SigningKey, path: str, claims: Callable[[], dict[str, Any]], status: int
) -> None:
    # Claims are built when the test runs, not at collection: a slow run must not expire them.
    assert client.get(path, headers=bearer(mint(claims(), signing_key))).status_code == status


# --- optional caller ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_headers", "status", "body"),
    [
        pytest.param(lambda key: {}, 200, {"subject": None}, id="no-header-gives-none"),
        pytest.param(
            lambda key: bearer(mint(user_claims(), key)), 200, {"subject": "0b5c6e1a-user-mario"}, id="valid-token"
        ),
        pytest.param(
            lambda key: bearer(mint(user_claims(exp=1_000_000_000), key)), 401, None, id="bad-token-is-refused"
        ),
        pytest.param(lambda key: {"Authorization": "Bearer"}, 401, None, id="empty-bearer-is-refused"),
        pytest.param(
            lambda key: {"Authorization": "Basic bWFyaW86cGl6emE="}, 200, {"subject": None}, id="basic-gives-none"
        ),
        pytest.param(
            lambda key: {"Authorization": 'Digest username="mario"'}, 200, {"subject": None}, id="digest-gives-none"
        ),
        pytest.param(lambda key: {"X-API-Key": "k-123"}, 200, {"subject": None}, id="api-key-gives-none"),
        pytest.param(
            lambda key: {"Authorization": "Basic bWFyaW86cGl6emE=", "X-API-Key": "k"},
            200,
            {"subject": None},
            id="basic-and-api-key-give-none",
        ),
        pytest.param(lambda key: {"Authorization": "Bearer not.a.token"}, 401, None, id="garbage-bearer-is-refused"),
    ],
)
def test_optional_principal_is_none_without_a_bearer_token_and_strict_with_one(
    client: TestClient, signing_key: SigningKey, make_headers: Any, status: int, body: Any
) -> None:
    response = client.get("/maybe", headers=make_headers(signing_key))
    assert response.status_code == status
    if body is not None:
        assert response.json() == body


# --- the decorator ---------------------------------------------------------------------------------------


def test_roles_required_on_a_sync_route_with_path_and_query_parameters(
    client: TestClient, signing_key: SigningKey
) -> None:
    response = client.get(
        "/decorated/sync/42", params={"size": "large", "limit": 5}, headers=bearer(mint(user_claims(), signing_key))
    )
    assert response.status_code == 200
    assert response.json() == {"item_id": 42, "size": "large", "limit": 5}


def test_roles_required_on_an_async_route_with_a_body_model(client: TestClient, signing_key: SigningKey) -> None:
    response = client.post(
        "/decorated/async/7",
        json={"item": "pizza", "quantity": 2},
        headers=bearer(mint(user_claims(), signing_key)),
    )
    assert response.status_code == 200
    assert response.json() == {"item_id": 7, "size": "small", "order": {"item": "pizza", "quantity": 2}}


def test_roles_required_still_validates_the_routes_own_parameters(client: TestClient, signing_key: SigningKey) -> None:
    token = mint(user_claims(), signing_key)
    assert client.get("/decorated/sync/not-a-number", headers=bearer(token)).status_code == 422
    assert client.get("/decorated/sync/1", params={"size": "huge"}, headers=bearer(token)).status_code == 422
    assert client.get("/decorated/sync/1", params={"limit": 0}, headers=bearer(token)).status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/decorated/sync/1", None, id="sync"),
        pytest.param("POST", "/decorated/async/1", {"item": "pizza", "quantity": 1}, id="async"),
        pytest.param("GET", "/decorated/admin", None, id="no-parameters"),
    ],
)
def test_roles_required_refuses_a_caller_without_the_role(
    client: TestClient, signing_key: SigningKey, method: str, path: str, body: Any
) -> None:
    token = mint(user_claims(realm_access={"roles": []}, resource_access=None), signing_key)
    response = client.request(method, path, json=body, headers=bearer(token))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_roles_required_adds_no_parameter_to_the_openapi_schema(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/decorated/sync/{item_id}"]["get"]
    assert sorted(p["name"] for p in operation["parameters"]) == ["item_id", "limit", "size"]


# --- OpenAPI and Swagger UI ------------------------------------------------------------------------


def operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {path: operation for path, item in schema["paths"].items() for operation in item.values()}


def test_every_protected_route_declares_both_security_schemes(auth: KeycloakAuth, client: TestClient) -> None:
    bearer_scheme, login_scheme = auth.scheme_names
    found = operations(client.get("/openapi.json").json())
    protected = {path: op for path, op in found.items() if path != "/health"}
    assert len(protected) == 13
    for path, operation in protected.items():
        names = [name for requirement in operation.get("security", []) for name in requirement]
        assert names == [bearer_scheme, login_scheme], path
    assert "security" not in found["/health"]


def test_the_security_schemes_point_browsers_at_the_public_url(auth: KeycloakAuth, client: TestClient) -> None:
    bearer_scheme, login_scheme = auth.scheme_names
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes[bearer_scheme]["type"] == "http"
    assert schemes[bearer_scheme]["scheme"] == "bearer"
    flow = schemes[login_scheme]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == f"{PUBLIC_URL}/realms/demo/protocol/openid-connect/auth"
    assert flow["tokenUrl"] == f"{PUBLIC_URL}/realms/demo/protocol/openid-connect/token"


def test_swagger_ui_logs_in_with_pkce_and_no_secret(auth: KeycloakAuth, client: TestClient) -> None:
    config = auth.swagger_ui_oauth("web")
    assert config["clientId"] == "web"
    assert config["usePkceWithAuthorizationCodeGrant"] is True
    assert not any("secret" in name.lower() for name in config)
    page = client.get("/docs").text
    assert '"usePkceWithAuthorizationCodeGrant": true' in page
    assert "secret" not in page.lower()


# --- one verification per request, and Keycloak's outages -------------------------------------


def test_a_route_with_two_dependencies_verifies_the_token_once(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], signing_key: SigningKey
) -> None:
    verifications = CountingMetrics()  # counts every verification: full, or answered from the cache
    auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client(), metrics=verifications)
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/both")
    async def both(
        customer: Principal = Depends(auth.require_roles("customer")),
        profile: Principal = Depends(auth.require_scopes("profile")),
        caller: Principal = Depends(auth.principal),
    ) -> dict[str, bool]:
        return {"same": customer is profile is caller}

    with TestClient(app) as client:
        response = client.get("/both", headers=bearer(mint(user_claims(), signing_key)))
    assert response.json() == {"same": True}
    assert verifications.cache_misses + verifications.cache_hits == 1


def test_an_unknown_key_while_keycloak_is_down_is_a_503_with_retry_after(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object]
) -> None:
    auth = KeycloakAuth(
        KeycloakSettings(**settings_values, jwks_cooldown_seconds=0), http_client=fake_keycloak.client()
    )
    with TestClient(build_app(auth)) as client:
        fake_keycloak.down = True
        response = client.get("/me", headers=bearer(mint(user_claims(), SigningKey.rsa("kid-rotated-in"))))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert 'error="temporarily_unavailable"' in response.headers["WWW-Authenticate"]
