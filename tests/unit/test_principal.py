"""Principal: who is calling, typed and immutable, roles kept apart, service accounts explicit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from fastapi_kc import Principal
from fastapi_kc._principal import principal_builder
from tests.support.tokens import AUDIENCE, service_claims, user_claims


def principal(claims: dict[str, Any]) -> Principal:
    return Principal.from_claims(claims)


def test_identity_fields_come_from_keycloak_claims() -> None:
    p = principal(user_claims(groups=["/staff"]))
    assert (p.subject, p.username, p.email) == ("0b5c6e1a-user-mario", "mario", "mario@example.test")
    assert p.authorized_party == "web" and p.acr == "1" and p.groups == ("/staff",)
    assert p.scopes == {"openid", "profile", "email"}
    assert p.audience == {AUDIENCE, "account"}
    assert p.session_id and p.claims["name"] == "Mario Rossi"


def test_times_are_utc_datetimes() -> None:
    p = principal(user_claims(iat=1_800_000_000, exp=1_800_000_300, auth_time=1_799_999_000))
    assert p.issued_at == datetime.fromtimestamp(1_800_000_000, UTC)
    assert p.expires_at == datetime.fromtimestamp(1_800_000_300, UTC)
    assert p.auth_time == datetime.fromtimestamp(1_799_999_000, UTC)


def test_realm_roles_and_client_roles_are_never_mixed() -> None:
    p = principal(user_claims())
    assert p.has_role("customer") and not p.has_role("customer", client=AUDIENCE)
    assert p.has_role("orders:read", client=AUDIENCE) and not p.has_role("orders:read")
    assert not p.has_role("orders:read", client="account")


@pytest.mark.parametrize(
    "overrides",
    [{"realm_access": "admin"}, {"realm_access": {"roles": "admin"}}, {"realm_access": ["admin"]},
     {"realm_access": {"roles": [["admin"], {"admin": 1}, 7]}}, {"resource_access": ["api"]},
     {"resource_access": {"api": {"roles": "admin"}}}, {"resource_access": {"api": "admin"}}],
)  # fmt: skip
def test_role_claims_of_the_wrong_json_type_give_no_roles(overrides: dict[str, Any]) -> None:
    p = principal(user_claims(**overrides))
    assert not p.has_role("admin") and not p.has_role("admin", client=AUDIENCE)
    assert not p.has_role("a") and not p.has_role("d")


def test_the_principal_is_immutable() -> None:
    p = principal(user_claims())
    with pytest.raises(AttributeError):
        p.username = "luigi"  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.claims["sub"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        p.client_roles["api"] = frozenset({"admin"})  # type: ignore[index]


def test_a_client_credentials_token_is_a_service_account() -> None:
    p = principal(service_claims("shop-api"))
    assert p.is_service_account and p.client_id == "shop-api" and p.session_id is None


def test_the_pre_26_clientid_claim_is_recognised() -> None:
    claims = service_claims("shop-api")
    claims["clientId"] = claims.pop("client_id")
    p = principal(claims)
    assert p.is_service_account and p.client_id == "shop-api"


@pytest.mark.parametrize(
    "claims",
    [user_claims(email=None), user_claims(email=None, azp="shop-api"),
     user_claims(email=None, name=None, given_name=None, family_name=None, email_verified=False),
     user_claims(client_id="shop-api", preferred_username="service-account-shop-api"),  # has a session
     service_claims("shop-api", preferred_username="mario"),
     service_claims("shop-api", session_state="abc"),
     {k: v for k, v in service_claims("shop-api").items() if k != "client_id"}],
    ids=["no-email", "no-email-confidential-client", "bare-user", "user-session", "other-username",
         "session-state", "no-client-id"],
)  # fmt: skip
def test_service_accounts_are_never_guessed_from_missing_fields(claims: dict[str, Any]) -> None:
    assert principal(claims).is_service_account is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("true", True), ("TRUE", True), (" true ", True), (["true"], True), ([True], True),
     (False, False), ("false", False), (["false"], False), ([], False), (["true", "false"], False),
     ("yes", False), (1, False), ({"v": True}, False), (None, False)],
)  # fmt: skip
def test_claim_bool_reads_every_shape_keycloak_emits(value: object, expected: bool) -> None:
    claims = user_claims()
    if value is not None:
        claims["canCheckout"] = value
    assert principal(claims).claim_bool("canCheckout") is expected


def test_it_works_as_starlettes_user() -> None:
    p = principal(user_claims())
    assert p.is_authenticated and p.display_name == "mario" and p.identity == "0b5c6e1a-user-mario"


def test_grants_name_realm_roles_client_roles_and_scopes_explicitly() -> None:
    grants = principal(user_claims()).grants
    assert {"authenticated", "realm:customer", "client:api:orders:read", "scope:email"} <= set(grants)
    assert "customer" not in grants and "orders:read" not in grants


def test_repr_shows_who_but_no_claims() -> None:
    text = repr(principal(user_claims()))
    assert "mario" in text and "realm_access" not in text and "email" not in text


def test_the_verifiers_builder_gives_what_from_claims_gives_bound_to_the_verifier() -> None:
    claims = user_claims()
    built = principal_builder(Principal)(claims, "binding")
    assert type(built) is Principal and built == Principal.from_claims(claims)
    assert built.to_dict() == Principal.from_claims(claims).to_dict()
    assert built._verified_by == "binding" and built.subject == claims["sub"]


def test_the_verifiers_builder_refuses_claims_without_a_string_subject() -> None:
    with pytest.raises(TypeError, match="sub"):
        principal_builder(Principal)({"sub": 7}, None)
