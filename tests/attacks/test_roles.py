"""Role claims of the wrong shape (field notes §4: a string is not a list of roles).

These tokens are valid (signed, right issuer and audience): they authenticate, so `/me` answers
200, but no malformed role claim may grant a role: `/admin` (realm role `admin`) and `/orders`
(client role `orders:read` of `api`) answer 403. The 403 is the only place in this catalogue
where a refusal is not a 401.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.attacks.harness import Target
from tests.support.tokens import AUDIENCE, SigningKey, mint, user_claims

REALM_ROLE_SHAPES: dict[str, Any] = {
    "roles-as-string": {"realm_access": {"roles": "admin"}},
    "roles-as-space-separated-string": {"realm_access": {"roles": "customer admin"}},
    "roles-as-comma-separated-string": {"realm_access": {"roles": "customer,admin"}},
    "realm-access-as-string": {"realm_access": "admin"},
    "realm-access-as-list": {"realm_access": ["admin"]},
    "roles-nested-list": {"realm_access": {"roles": [["admin"]]}},
    "roles-as-object": {"realm_access": {"roles": {"admin": True}}},
    "roles-of-objects": {"realm_access": {"roles": [{"name": "admin"}]}},
    "roles-key-in-another-case": {"realm_access": {"Roles": ["admin"]}},
    "role-name-in-another-case": {"realm_access": {"roles": ["Admin", "ADMIN"]}},
    "role-name-with-space": {"realm_access": {"roles": ["admin "]}},
    "role-name-with-nul": {"realm_access": {"roles": ["admin\x00"]}},
    "top-level-roles-claim": {"roles": ["admin"]},
    "groups-claim": {"groups": ["admin", "/admin"]},
    "scope-claim": {"scope": "openid admin"},
    "client-role-named-admin": {"resource_access": {AUDIENCE: {"roles": ["admin"]}}},
    "realm-access-null": {"realm_access": None},
}
CLIENT_ROLE_SHAPES: dict[str, Any] = {
    "client-roles-as-string": {"resource_access": {AUDIENCE: {"roles": "orders:read"}}},
    "client-access-as-list": {"resource_access": {AUDIENCE: ["orders:read"]}},
    "resource-access-as-list": {"resource_access": [{AUDIENCE: {"roles": ["orders:read"]}}]},
    "resource-access-as-string": {"resource_access": "orders:read"},
    "role-of-another-client": {"resource_access": {"account": {"roles": ["orders:read"]}}},
    "client-name-in-another-case": {"resource_access": {AUDIENCE.upper(): {"roles": ["orders:read"]}}},
    "realm-role-of-the-same-name": {"realm_access": {"roles": ["orders:read"]}, "resource_access": {}},
    "nested-list": {"resource_access": {AUDIENCE: {"roles": [["orders:read"]]}}},
}


def claims(change: dict[str, Any]) -> dict[str, Any]:
    base = user_claims()
    base.update(change)  # None stays: a JSON null claim
    return base


def test_control_a_well_formed_realm_role_opens_admin(target: Target, signing_key: SigningKey) -> None:
    token = mint(user_claims(realm_access={"roles": ["customer", "admin"]}), signing_key)
    assert target.status_of("/admin", token) == 200
    assert target.status_of("/admin", token, app="middleware") == 200


def test_control_a_well_formed_client_role_opens_orders(target: Target, signing_key: SigningKey) -> None:
    token = mint(user_claims(), signing_key)  # resource_access.api.roles = ["orders:read"]
    assert target.status_of("/orders", token) == 200
    assert target.status_of("/orders", token, app="middleware") == 200


@pytest.mark.parametrize("name", list(REALM_ROLE_SHAPES))
def test_a_malformed_realm_role_claim_grants_nothing(target: Target, signing_key: SigningKey, name: str) -> None:
    token = mint(claims(REALM_ROLE_SHAPES[name]), signing_key)
    principal = target.accepted(token)
    assert "admin" not in principal.realm_roles
    assert target.status_of("/admin", token) == 403
    assert target.status_of("/admin", token, app="middleware") == 403


@pytest.mark.parametrize("name", list(CLIENT_ROLE_SHAPES))
def test_a_malformed_client_role_claim_grants_nothing(target: Target, signing_key: SigningKey, name: str) -> None:
    token = mint(claims(CLIENT_ROLE_SHAPES[name]), signing_key)
    principal = target.accepted(token)
    assert not principal.has_role("orders:read", client=AUDIENCE)
    assert target.status_of("/orders", token) == 403
    assert target.status_of("/orders", token, app="middleware") == 403


def test_a_forbidden_answer_carries_insufficient_scope(target: Target, signing_key: SigningKey) -> None:
    token = mint(claims(REALM_ROLE_SHAPES["roles-as-string"]), signing_key)
    for app in target.apps:
        reply = target.get("/admin", [(b"authorization", f"Bearer {token}".encode())], app=app)
        assert reply.status == 403
        assert 'error="insufficient_scope"' in reply.headers["www-authenticate"]


def test_roles_in_an_unverified_token_are_never_consulted(target: Target, signing_key: SigningKey) -> None:
    # Role checks come after the signature: a forged admin gets 401, not 403 and not 200.
    forged = SigningKey.rsa(signing_key.kid)
    target.refused(mint(user_claims(realm_access={"roles": ["admin"]}), forged))
