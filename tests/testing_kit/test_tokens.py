"""Minted tokens look like Keycloak 26's, and what a test asks for is what the app sees."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from fastapi_kc import AuthError, KeycloakAuth, KeycloakSettings, Principal
from fastapi_kc.testing import MockKeycloak
from tests.testing_kit.conftest import settings_with


class Realm:
    """A mock and its auth; `principal(token)` is what the app would see for that token."""

    def __init__(self, settings: KeycloakSettings) -> None:
        self.auth = KeycloakAuth(settings)
        self.keycloak = MockKeycloak(self.auth)

    def principal(self, token: str) -> Principal:
        async def main() -> Principal:
            async with self.keycloak, self.auth:
                return await self.auth.verify(token)

        return asyncio.run(main())


@pytest.fixture
def realm(settings: KeycloakSettings) -> Realm:
    return Realm(settings)


def segment_of(token: str, index: int) -> dict[str, Any]:
    segment = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def header_of(token: str) -> dict[str, Any]:
    return segment_of(token, 0)


def payload_of(token: str) -> dict[str, Any]:
    """The claims as written in the token (a verified Principal freezes arrays into tuples)."""
    return segment_of(token, 1)


def test_a_user_token_has_keycloak_s_shape(realm: Realm) -> None:
    claims = realm.principal(realm.keycloak.token(username="mario", email="mario@example.com")).claims
    assert claims["typ"] == "Bearer"
    assert claims["iss"] == "https://auth.example.com/realms/shop"
    assert claims["aud"] == "orders-api"  # one audience is written as a string, as Keycloak does
    assert claims["azp"] == "web"
    assert claims["sid"] and claims["jti"] and claims["sub"]
    assert claims["exp"] - claims["iat"] == 300
    assert (claims["preferred_username"], claims["email"], claims["email_verified"]) == (
        "mario", "mario@example.com", True
    )  # fmt: skip
    assert claims["scope"] == "openid profile email"
    assert "client_id" not in claims


def test_the_header_names_the_mock_s_key(realm: Realm) -> None:
    header = header_of(realm.keycloak.token())
    assert header == {"alg": "RS256", "typ": "JWT", "kid": header["kid"]}
    assert header["kid"] in repr(realm.keycloak)


def test_a_user_is_no_service_account(realm: Realm) -> None:
    user = realm.principal(realm.keycloak.token(username="mario"))
    assert (user.is_service_account, user.session_id is not None, user.client_id) == (False, True, None)


def test_realm_roles_come_with_keycloak_s_defaults(realm: Realm) -> None:
    user = realm.principal(realm.keycloak.token(realm_roles=["customer", "customer"]))
    assert user.realm_roles == {"customer", "default-roles-shop", "offline_access", "uma_authorization"}
    assert user.claims["realm_access"]["roles"].count("customer") == 1


def test_client_roles_stay_apart_from_realm_roles(realm: Realm) -> None:
    user = realm.principal(realm.keycloak.token(client_roles={"orders-api": ["orders:read"], "billing": ["pay"]}))
    assert user.has_role("orders:read", client="orders-api") and user.has_role("pay", client="billing")
    assert not user.has_role("orders:read")


def test_scopes_are_added_to_the_default_ones(realm: Realm) -> None:
    assert realm.principal(realm.keycloak.token(scopes=["orders", "email"])).scopes == {
        "openid", "profile", "email", "orders"
    }  # fmt: skip


def test_the_same_username_gives_the_same_subject_and_subject_can_be_set(realm: Realm) -> None:
    first, second = (realm.principal(realm.keycloak.token(username="mario")) for _ in range(2))
    assert first.subject == second.subject != realm.principal(realm.keycloak.token(username="luigi")).subject
    assert realm.principal(realm.keycloak.token(subject="f:123:mario")).subject == "f:123:mario"


def test_no_email_means_no_email_claim(realm: Realm) -> None:
    claims = realm.principal(realm.keycloak.token()).claims
    assert "email" not in claims and claims["email_verified"] is False


def test_extra_claims_are_added_and_none_removes_one(realm: Realm) -> None:
    user = realm.principal(realm.keycloak.token(claims={"canCheckout": ["true"], "azp": "spa", "acr": None}))
    assert user.claim_bool("canCheckout") and user.authorized_party == "spa" and "acr" not in user.claims


def test_a_token_without_sub_is_refused_as_in_production(realm: Realm) -> None:
    with pytest.raises(AuthError) as info:
        realm.principal(realm.keycloak.token(claims={"sub": None}))
    assert (info.value.status_code, info.value.error) == (401, "invalid_token")


def test_several_audiences_default_to_all_of_the_auth_s(settings: KeycloakSettings) -> None:
    realm = Realm(settings_with(audience=["orders-api", "reports-api"]))
    assert realm.principal(realm.keycloak.token()).audience == {"orders-api", "reports-api"}


def test_an_audience_of_several_values_is_written_as_a_list(realm: Realm) -> None:
    token = realm.keycloak.token(audience=["orders-api", "account"])
    assert payload_of(token)["aud"] == ["orders-api", "account"]
    assert realm.principal(token).audience == {"orders-api", "account"}


def test_a_service_token_has_keycloak_s_client_credentials_shape(realm: Realm) -> None:
    caller = realm.principal(realm.keycloak.service_token("shop-api", client_roles={"orders-api": ["notify"]}))
    assert caller.is_service_account
    assert (caller.client_id, caller.username, caller.authorized_party) == (
        "shop-api", "service-account-shop-api", "shop-api"
    )  # fmt: skip
    assert caller.session_id is None and "email" not in caller.claims
    assert caller.scopes == {"profile", "email"}
    assert caller.has_role("notify", client="orders-api")
    assert caller.audience == {"orders-api"}


def test_an_expired_token_was_issued_one_lifetime_before_it_expired(realm: Realm) -> None:
    claims = payload_of(realm.keycloak.token(expires_in=-60))
    assert claims["exp"] - claims["iat"] == 300


def test_the_clock_dates_the_tokens(settings: KeycloakSettings) -> None:
    keycloak = MockKeycloak(KeycloakAuth(settings), clock=lambda: 1_000_000.0)
    claims = payload_of(keycloak.token())
    assert (claims["iat"], claims["exp"]) == (1_000_000, 1_000_300)


@pytest.mark.parametrize("alg", ["ES256", "PS256", "EdDSA"])
def test_an_api_that_allows_other_algorithms_gets_a_key_of_that_kind(settings: KeycloakSettings, alg: str) -> None:
    realm = Realm(settings_with(algorithms=[alg]))
    token = realm.keycloak.token(username="mario")
    assert header_of(token)["alg"] == alg
    assert realm.principal(token).username == "mario"


def test_rs256_is_chosen_when_allowed_as_keycloak_does(settings: KeycloakSettings) -> None:
    keycloak = MockKeycloak(KeycloakAuth(settings_with(algorithms=["ES256", "RS256"])))
    assert header_of(keycloak.token())["alg"] == "RS256"
