"""A Principal as data: returned from routes, held by pydantic models, encoded, pickled, copied;
and users' own Principal classes through `principal_class`."""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import pickle
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from fastapi import Depends, FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from fastapi_kc import ConfigurationError, KeycloakAuth, KeycloakSettings, Principal
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import SigningKey, mint, user_claims

PUBLIC_FIELDS = {
    "subject", "username", "email", "is_service_account", "client_id", "authorized_party", "realm_roles",
    "client_roles", "scopes", "audience", "groups", "issued_at", "expires_at",
}  # fmt: skip


class ShopUser(Principal):
    """A user's own Principal: typed properties read from the shop's own claims."""

    public_fields: ClassVar[tuple[str, ...]] = (*Principal.public_fields, "tenant", "loyalty_points")

    @property
    def tenant(self) -> str | None:
        value = self.claims.get("tenant")
        return value if isinstance(value, str) else None

    @functools.cached_property
    def loyalty_points(self) -> int:
        value = self.claims.get("loyalty")
        return value if isinstance(value, int) else 0


class Order(BaseModel):
    """A user's response model holding the caller."""

    item: str
    placed_by: Principal


def mario() -> Principal:
    return Principal.from_claims(user_claims(groups=["/staff"], secret_mapper_claim="internal"))


@pytest.fixture
def auth(fake_keycloak: FakeKeycloak, settings_values: dict[str, Any]) -> KeycloakAuth:
    return KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())


def app_returning_the_caller(auth: KeycloakAuth) -> FastAPI:
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/me")
    async def me(user: Principal = Depends(auth.principal)) -> Principal:
        return user

    @app.get("/me-model", response_model=Principal)
    async def me_model(user: Principal = Depends(auth.principal)) -> Any:
        return user

    @app.get("/order")
    async def order(user: Principal = Depends(auth.principal)) -> Order:
        return Order(item="pizza", placed_by=user)

    @app.get("/encoded")
    async def encoded(user: Principal = Depends(auth.principal)) -> Any:
        return jsonable_encoder({"user": user})

    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(auth: KeycloakAuth) -> Iterator[TestClient]:
    with TestClient(app_returning_the_caller(auth)) as client:
        yield client


# --- returned from routes ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/me", "/me-model"])
def test_a_route_may_return_the_principal(client: TestClient, signing_key: SigningKey, path: str) -> None:
    response = client.get(path, headers=bearer(mint(user_claims(), signing_key)))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_FIELDS
    assert body["subject"] == "0b5c6e1a-user-mario"
    assert body["realm_roles"] == ["customer", "default-roles-demo", "offline_access"]
    assert body["client_roles"] == {"api": ["orders:read"], "account": ["manage-account"]}


def test_the_principal_inside_a_response_model_shows_its_public_fields(
    client: TestClient, signing_key: SigningKey
) -> None:
    response = client.get("/order", headers=bearer(mint(user_claims(), signing_key)))
    assert response.status_code == 200
    assert response.json()["placed_by"]["username"] == "mario"
    assert set(response.json()["placed_by"]) == PUBLIC_FIELDS


def test_jsonable_encoder_gives_the_public_fields(client: TestClient, signing_key: SigningKey) -> None:
    response = client.get("/encoded", headers=bearer(mint(user_claims(), signing_key)))
    assert response.json()["user"]["email"] == "mario@example.test"
    assert set(response.json()["user"]) == PUBLIC_FIELDS


def test_openapi_describes_the_principal_with_typed_fields(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    me = schema["paths"]["/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert me == {"$ref": "#/components/schemas/Principal"}
    properties = schema["components"]["schemas"]["Principal"]["properties"]
    assert set(properties) == PUBLIC_FIELDS
    assert properties["realm_roles"]["type"] == "array"
    assert properties["is_service_account"]["type"] == "boolean"
    assert {"type": "string", "format": "date-time"} in properties["expires_at"]["anyOf"]


# --- as data ---------------------------------------------------------------------------------------


def test_to_dict_is_json_ready_and_leaves_out_the_raw_claims() -> None:
    data = json.loads(json.dumps(mario().to_dict()))
    assert set(data) == PUBLIC_FIELDS
    assert data["groups"] == ["/staff"]
    assert data["scopes"] == ["email", "openid", "profile"]
    assert "internal" not in json.dumps(data)


def test_to_dict_gives_the_raw_claims_when_asked() -> None:
    data = json.loads(json.dumps(mario().to_dict(claims=True)))
    assert data["claims"]["secret_mapper_claim"] == "internal"
    assert data["claims"]["realm_access"] == user_claims()["realm_access"]


def test_a_pydantic_model_serialises_the_public_fields_unless_the_claims_are_asked_for() -> None:
    caller = mario()
    order = Order(item="pizza", placed_by=caller)
    assert "claims" not in order.model_dump()["placed_by"]
    assert order.model_dump(mode="json")["placed_by"] == caller.to_dict()
    asked = order.model_dump(mode="json", context={"principal_claims": True})
    assert asked["placed_by"]["claims"]["secret_mapper_claim"] == "internal"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(user_claims(), id="claims"),
        pytest.param({"subject": "0b5c6e1a-user-mario", "username": "mario"}, id="public-fields"),
    ],
)
def test_a_principal_is_never_built_from_request_data(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Order.model_validate({"item": "pizza", "placed_by": data})
    with pytest.raises(ValidationError):
        Order.model_validate_json(json.dumps({"item": "pizza", "placed_by": data}))


def test_dict_of_a_principal_is_its_public_fields() -> None:
    original = mario()
    assert dict(original) == original.to_dict()


def test_a_pickled_principal_comes_back_equal_and_still_immutable() -> None:
    original = mario()
    restored = pickle.loads(pickle.dumps(original))  # noqa: S301 - our own bytes
    assert restored == original
    assert restored.realm_roles == original.realm_roles
    with pytest.raises(AttributeError):
        restored.subject = "someone-else"  # type: ignore[misc]


def test_copies_are_the_same_immutable_principal() -> None:
    original = mario()
    assert copy.copy(original) is original
    assert copy.deepcopy({"user": original})["user"] is original


# --- users' own Principal class --------------------------------------------------------------------


def test_principal_class_makes_every_verified_token_the_users_own_type(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, Any], signing_key: SigningKey
) -> None:
    custom = KeycloakAuth(
        KeycloakSettings(**settings_values), http_client=fake_keycloak.client(), principal_class=ShopUser
    )

    async def scenario() -> tuple[Principal, Principal]:
        async with custom:
            token = mint(user_claims(tenant="north", loyalty=120), signing_key)
            await custom.verify(token)  # a token is cached from its second sighting on
            return await custom.verify(token), await custom.verify(token)

    first, again = asyncio.run(scenario())
    assert isinstance(first, ShopUser)
    assert (first.tenant, first.loyalty_points, first.username) == ("north", 120, "mario")
    assert again is first, "the verified-token cache keeps the user's type"
    with pytest.raises(AttributeError):
        first.tenant = "south"  # type: ignore[misc]


def audited_class(constructor: str, built: list[str]) -> type[Principal]:
    """A Principal class whose construction runs code of its own (noting the subject in `built`),
    in one of the places Python looks for it."""

    def init(self: Principal, claims: Any, *, verified_by: Any = None) -> None:
        Principal.__init__(self, claims, verified_by=verified_by)
        built.append(self.subject)

    def new(cls: type[Principal], claims: Any, **_: Any) -> Principal:
        built.append(claims["sub"])
        return object.__new__(cls)

    def from_claims(cls: type[Principal], claims: Any, *, verified_by: Any = None) -> Principal:
        built.append(claims["sub"])
        return cls(claims, verified_by=verified_by)

    def call(cls: type[Principal], claims: Any, **kwargs: Any) -> Principal:
        built.append(claims["sub"])
        return type.__call__(cls, claims, **kwargs)

    slots: dict[str, Any] = {"__slots__": ()}
    if constructor == "__init__":
        return type("AuditedUser", (Principal,), {**slots, "__init__": init})
    if constructor == "__new__":
        return type("AuditedUser", (Principal,), {**slots, "__new__": new})
    if constructor == "from_claims":
        return type("AuditedUser", (Principal,), {**slots, "from_claims": classmethod(from_claims)})
    if constructor == "mixin __init__ before Principal":
        return type("AuditedUser", (type("Mixin", (), {**slots, "__init__": init}), Principal), slots)
    if constructor == "mixin __new__ after Principal":
        return type("AuditedUser", (Principal, type("Mixin", (), {**slots, "__new__": new})), slots)
    assert constructor == "metaclass __call__"
    return type("AuditedMeta", (type,), {"__call__": call})("AuditedUser", (Principal,), slots)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "constructor",
    ["__init__", "__new__", "from_claims", "mixin __init__ before Principal", "mixin __new__ after Principal",
     "metaclass __call__"],
)  # fmt: skip
def test_a_principal_class_with_its_own_constructor_is_built_through_it(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, Any], signing_key: SigningKey, constructor: str
) -> None:
    built: list[str] = []
    audited = audited_class(constructor, built)
    custom = KeycloakAuth(
        KeycloakSettings(**settings_values), http_client=fake_keycloak.client(), principal_class=audited
    )

    async def scenario() -> Principal:
        async with custom:
            return await custom.verify(mint(user_claims(), signing_key))

    principal = asyncio.run(scenario())
    assert type(principal) is audited
    assert built == [principal.subject]


def test_a_users_principal_class_serialises_its_own_fields_with_their_types(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, Any], signing_key: SigningKey
) -> None:
    auth = KeycloakAuth(
        KeycloakSettings(**settings_values), http_client=fake_keycloak.client(), principal_class=ShopUser
    )
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/me")
    async def me(user: ShopUser = Depends(auth.principal)) -> ShopUser:
        return user

    with TestClient(app) as client:
        body = client.get("/me", headers=bearer(mint(user_claims(tenant="north"), signing_key))).json()
        properties = client.get("/openapi.json").json()["components"]["schemas"]["ShopUser"]["properties"]
    assert (body["tenant"], body["loyalty_points"], body["username"]) == ("north", 0, "mario")
    assert properties["loyalty_points"]["type"] == "integer"
    assert {"type": "string"} in properties["tenant"]["anyOf"]


def test_a_pickled_subclass_keeps_its_type() -> None:
    user = ShopUser.from_claims(user_claims(tenant="north"))
    restored = pickle.loads(pickle.dumps(user))  # noqa: S301 - our own bytes
    assert type(restored) is ShopUser
    assert restored.tenant == "north"


@pytest.mark.parametrize("bad", [dict, "Principal", None])
def test_a_principal_class_that_is_not_a_principal_is_refused(settings_values: dict[str, Any], bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="principal_class"):
        KeycloakAuth(KeycloakSettings(**settings_values), principal_class=bad)


def test_an_unpickled_principal_is_no_proof_for_a_request(auth: KeycloakAuth, signing_key: SigningKey) -> None:
    app = app_returning_the_caller(auth)
    holder: dict[str, Principal] = {}

    @app.middleware("http")
    async def replay(request: Any, call_next: Any) -> Any:
        if "user" in holder:
            request.scope["user"] = pickle.loads(pickle.dumps(holder["user"]))  # noqa: S301 - our own bytes
        return await call_next(request)

    with TestClient(app) as client:
        token = mint(user_claims(), signing_key)
        assert client.get("/me", headers=bearer(token)).status_code == 200

        async def verified() -> Principal:
            return await auth.verify(token)

        holder["user"] = client.portal.call(verified)  # type: ignore[union-attr]
        assert client.get("/me").status_code == 401
