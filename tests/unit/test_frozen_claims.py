"""Claims are deeply immutable: no handler can change what the next request with the same token reads.

A verified `Principal` is cached per token, so a nested list or dict of its claims that a
handler could change would change every later request's principal (issue 10, item 3).
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient

from fastapi_kc import KeycloakAuth, KeycloakSettings, Principal
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import AUDIENCE, SigningKey, mint, user_claims


def tamper(claims: Any) -> list[str]:
    """Every change a handler could try on the nested claims; returns the ones that worked."""
    attempts = {
        "append a realm role": lambda: claims["realm_access"]["roles"].append("admin"),
        "extend a realm role list": lambda: claims["realm_access"]["roles"].extend(["admin"]),
        "replace the realm roles": lambda: claims["realm_access"].__setitem__("roles", ["admin"]),
        "update realm_access": lambda: claims["realm_access"].update(roles=["admin"]),
        "add a client": lambda: claims["resource_access"].__setitem__(AUDIENCE, {"roles": ["admin"]}),
        "setdefault a client": lambda: claims["resource_access"].setdefault("billing", {"roles": ["admin"]}),
        "append a client role": lambda: claims["resource_access"][AUDIENCE]["roles"].append("admin"),
        "drop an audience": lambda: claims["aud"].pop(),
        "add a claim": lambda: claims.__setitem__("admin", True),
    }
    worked = []
    for name, attempt in attempts.items():
        try:
            attempt()
        except (TypeError, AttributeError):
            continue
        worked.append(name)
    return worked


def test_no_nested_claim_of_a_principal_can_be_changed() -> None:
    principal = Principal.from_claims(user_claims())
    assert tamper(principal.claims) == []
    assert not principal.has_role("admin") and not principal.has_role("admin", client=AUDIENCE)
    assert principal.claims["realm_access"]["roles"] == ("default-roles-demo", "offline_access", "customer")


@pytest.fixture
def client(fake_keycloak: FakeKeycloak, settings_values: dict[str, object]) -> Iterator[TestClient]:
    auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())
    app = FastAPI(lifespan=auth.lifespan)

    @app.get("/tamper")
    def tamper_route(principal: Principal = Depends(auth.principal)) -> list[str]:
        return tamper(principal.claims)

    @app.get("/admin")
    def admin(principal: Principal = Depends(auth.require_roles("admin"))) -> str:
        return principal.subject

    @app.get("/billing")
    def billing(principal: Principal = Depends(auth.require_roles("admin", client=AUDIENCE))) -> str:
        return principal.subject

    with TestClient(app) as client:
        yield client


def test_a_handler_changing_nested_claims_grants_nothing_to_the_next_request(
    client: TestClient, signing_key: SigningKey
) -> None:
    headers = {"Authorization": f"Bearer {mint(user_claims(), signing_key)}"}
    assert client.get("/tamper", headers=headers).json() == []
    # The same token again: answered from the verified-token cache, with the same Principal.
    assert client.get("/admin", headers=headers).status_code == 403
    assert client.get("/billing", headers=headers).status_code == 403


def test_frozen_claims_still_read_serialise_and_copy_like_the_token_s_json() -> None:
    claims = user_claims(groups=["/staff"], canCheckout=["true"])
    principal = Principal.from_claims(claims)
    frozen = principal.claims
    assert frozen == claims | {
        "aud": (AUDIENCE, "account"),
        "groups": ("/staff",),
        "canCheckout": ("true",),
        "realm_access": {"roles": ("default-roles-demo", "offline_access", "customer")},
        "resource_access": {AUDIENCE: {"roles": ("orders:read",)}, "account": {"roles": ("manage-account",)}},
    }
    assert json.loads(json.dumps(frozen)) == claims
    assert jsonable_encoder(frozen) == claims
    pickled = pickle.loads(pickle.dumps(frozen))  # noqa: S301 - our own bytes, made a line above
    for duplicate in (pickled, copy.deepcopy(frozen), copy.copy(frozen)):
        assert duplicate == frozen and tamper(duplicate) == []
    assert principal.groups == ("/staff",) and principal.claim_bool("canCheckout")


def test_the_claims_are_frozen_once_per_principal_not_per_request() -> None:
    principal = Principal.from_claims(user_claims())
    assert principal.claims is principal.claims


def test_a_principal_built_by_hand_freezes_any_container_it_is_given() -> None:
    principal = Principal({"sub": "s", "nested": [{"tags": {"a"}}, ["x"]], "map": {"k": ("v", ["w"])}})
    assert principal.claims == {"sub": "s", "nested": ({"tags": frozenset({"a"})}, ("x",)), "map": {"k": ("v", ("w",))}}
    with pytest.raises(TypeError):
        principal.claims["nested"][0]["tags"] = set()
    with pytest.raises(AttributeError):
        principal.claims["map"]["k"][1].append("y")
