"""Grants for Starlette's `@requires` are unambiguous (issue 10, item 6).

Client ids and role names may both contain `:`; the client id inside `client:<client>:<role>`
is percent-encoded so that no two (client, role) pairs give the same grant string.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, KeycloakSettings, Principal
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.tokens import AUDIENCE, SigningKey, mint, user_claims

# Under the old `client:<client>:<role>` both pairs read `client:urn:shop:api:admin`.
SHOP_API_ADMIN = {"urn:shop": {"roles": ["api:admin"]}}  # role `api:admin` of client `urn:shop`
SHOP_ADMIN = {"urn:shop:api": {"roles": ["admin"]}}  # role `admin` of client `urn:shop:api`


def client_grants(resource_access: dict[str, object]) -> set[str]:
    principal = Principal.from_claims(user_claims(resource_access=resource_access))
    return {grant for grant in principal.grants if grant.startswith("client:")}


def test_two_client_role_pairs_that_read_alike_get_different_grants() -> None:
    assert client_grants(SHOP_API_ADMIN) == {"client:urn%3Ashop:api:admin"}
    assert client_grants(SHOP_ADMIN) == {"client:urn%3Ashop%3Aapi:admin"}


@pytest.mark.parametrize(
    ("client", "role"),
    [("urn:shop", "api:admin"), ("urn:shop:api", "admin"), ("a%3Ab", "r"), ("a:b", "r"), ("a", "b:r"), ("a:b:", "r"),
     ("", ":r"), (":", "r"), ("%", "r"), ("%25", "r"), ("api", "orders:read")],
)  # fmt: skip
def test_the_grant_names_its_client_and_role_and_nothing_else(client: str, role: str) -> None:
    """Decoding a grant gives back the one pair it was made from: the encoding is injective."""
    grant = Principal.client_grant(client, role)
    assert client_grants({client: {"roles": [role]}}) == {grant}
    encoded_client, _, decoded_role = grant.removeprefix("client:").partition(":")
    assert (encoded_client.replace("%3A", ":").replace("%25", "%"), decoded_role) == (client, role)


def test_client_ids_without_colon_or_percent_read_as_before() -> None:
    assert Principal.client_grant(AUDIENCE, "orders:read") == f"client:{AUDIENCE}:orders:read"


@requires(Principal.client_grant("urn:shop:api", "admin"))
async def shop_api_admins(request: Request) -> PlainTextResponse:
    return PlainTextResponse("admin of urn:shop:api")


@pytest.fixture
def client(fake_keycloak: FakeKeycloak, settings_values: dict[str, object]) -> Iterator[TestClient]:
    auth = KeycloakAuth(KeycloakSettings(**settings_values), http_client=fake_keycloak.client())
    app = Starlette(
        routes=[Route("/shop-api-admin", shop_api_admins)], middleware=[Middleware(KeycloakMiddleware, auth=auth)]
    )
    with TestClient(app) as client:
        yield client


def test_requires_refuses_a_role_of_another_client_whose_names_read_alike(
    client: TestClient, signing_key: SigningKey
) -> None:
    other_pair = mint(user_claims(resource_access=SHOP_API_ADMIN), signing_key)
    assert client.get("/shop-api-admin", headers={"Authorization": f"Bearer {other_pair}"}).status_code == 403
    right_pair = mint(user_claims(resource_access=SHOP_ADMIN), signing_key)
    assert client.get("/shop-api-admin", headers={"Authorization": f"Bearer {right_pair}"}).status_code == 200
