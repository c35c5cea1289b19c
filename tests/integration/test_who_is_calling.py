"""Field notes §3 and §4 with real tokens: service accounts, roles, and custom claims."""

from __future__ import annotations

import pytest

from fastapi_kc import Principal
from keycloak_dev import KeycloakServer
from tests.integration.conftest import claims_of, service_token, user_token, verify


def principal_of(settings, token: str) -> Principal:
    [result] = verify(settings, token)
    assert isinstance(result, Principal), result
    return result


def test_a_client_credentials_token_is_the_service_account_of_its_client(settings, keycloak: KeycloakServer) -> None:
    principal = principal_of(settings, service_token(keycloak, "shop-api"))
    assert principal.is_service_account is True
    assert principal.client_id == "shop-api"
    assert principal.has_role("notifications:send", client="api")


def test_keycloak_gives_service_tokens_no_session_and_user_tokens_one(keycloak: KeycloakServer) -> None:
    assert "sid" not in claims_of(service_token(keycloak, "shop-api"))
    assert claims_of(user_token(keycloak, "mario"))["sid"]


def test_a_user_without_email_logged_in_through_a_confidential_client_is_not_a_service_account(
    settings, keycloak: KeycloakServer
) -> None:
    token = user_token(keycloak, "luigi", client_id="shop-api")
    assert "email" not in claims_of(token)
    principal = principal_of(settings, token)
    assert principal.is_service_account is False
    assert principal.username == "luigi"


def test_realm_roles_and_client_roles_arrive_apart(settings, keycloak: KeycloakServer) -> None:
    principal = principal_of(settings, user_token(keycloak, "mario"))
    assert principal.has_role("customer") and not principal.has_role("customer", client="api")
    assert principal.has_role("orders:read", client="api") and not principal.has_role("orders:read")


def test_a_user_with_no_roles_has_no_application_roles(settings, keycloak: KeycloakServer) -> None:
    principal = principal_of(settings, user_token(keycloak, "luigi"))
    assert not principal.has_role("customer") and not principal.has_role("admin")
    assert "api" not in principal.client_roles


@pytest.mark.parametrize(
    ("client_id", "shape"),
    [("web", True), ("shop-api", "true"), ("legacy-portal", ["true"])],
    ids=["json-boolean", "string", "multivalued"],
)
def test_can_checkout_is_true_for_mario_in_every_mapper_shape(
    settings, keycloak: KeycloakServer, client_id: str, shape: object
) -> None:
    token = user_token(keycloak, "mario", client_id=client_id)
    assert claims_of(token)["canCheckout"] == shape  # the shape Keycloak really emits
    assert principal_of(settings, token).claim_bool("canCheckout") is True


def test_a_user_without_the_attribute_cannot_check_out(settings, keycloak: KeycloakServer) -> None:
    assert principal_of(settings, user_token(keycloak, "luigi")).claim_bool("canCheckout") is False
