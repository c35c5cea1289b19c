"""The mock's tokens have the shape of the real Keycloak's: compared claim by claim with tokens the
pinned Keycloak (keycloak_dev, the demo realm) issues to the same user and the same client."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import httpx
import pytest

from fastapi_kc import KeycloakAuth, KeycloakSettings, ServiceTokenClient
from fastapi_kc.testing import MockKeycloak
from keycloak_dev import KeycloakServer

pytestmark = pytest.mark.keycloak

# What the real token has and the mock cannot know: the user's profile and the realm's own mappers.
USER_PROFILE_AND_MAPPERS = {"name", "given_name", "family_name", "email", "canCheckout", "allowed-origins"}


def segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def json_type(value: Any) -> str:
    return "array" if isinstance(value, list) else type(value).__name__


EXCHANGE = {
    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
    "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
    "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
    "audience": "billing",
}


@pytest.fixture(scope="module")
def real(keycloak: KeycloakServer) -> dict[str, Any]:
    user = keycloak.token("web", username="mario", password="mario-password", scope="openid")
    service = keycloak.token("shop-api", client_secret="shop-api-secret")
    form = {
        **EXCHANGE,
        "subject_token": user["access_token"],
        "client_id": "shop-api",
        "client_secret": "shop-api-secret",
    }
    request = urllib.request.Request(  # noqa: S310 - the test's own Keycloak
        f"{keycloak.internal_url}/realms/demo/protocol/openid-connect/token", data=urllib.parse.urlencode(form).encode()
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the test's own Keycloak
        exchanged = json.loads(response.read())
    return {"user": user, "service": service, "exchanged": exchanged}


@pytest.fixture
def settings(keycloak: KeycloakServer) -> KeycloakSettings:
    return KeycloakSettings(public_url=keycloak.public_url, realm="demo", audience="api",
                            client_id="shop-api", client_secret="shop-api-secret")  # fmt: skip


@pytest.fixture
def mock(settings: KeycloakSettings) -> MockKeycloak:
    return MockKeycloak(KeycloakAuth(settings), ServiceTokenClient(settings))


def assert_same_shape(mocked: dict[str, Any], actual: dict[str, Any], *, unknowable: set[str]) -> None:
    assert set(mocked) - set(actual) == set(), "the mock writes a claim Keycloak does not"
    assert set(actual) - set(mocked) <= unknowable, "the mock lacks a claim every such token has"
    differing = {name for name in mocked if name != "aud" and json_type(mocked[name]) != json_type(actual[name])}
    assert differing == set()


def test_a_user_token_has_the_real_one_s_header_claims_and_types(real: dict[str, Any], mock: MockKeycloak) -> None:
    actual_token = real["user"]["access_token"]
    mocked_token = mock.token(username="mario", email="mario@example.test", realm_roles=["customer"],
                              client_roles={"api": ["orders:read"]})  # fmt: skip
    assert set(segment(mocked_token, 0)) == set(segment(actual_token, 0))
    actual, mocked = segment(actual_token, 1), segment(mocked_token, 1)
    assert_same_shape(mocked, actual, unknowable=USER_PROFILE_AND_MAPPERS)
    # `acr` is left out: the demo realm maps levels to names (silver, gold); Keycloak's default is "1".
    for name in ("iss", "typ", "azp", "preferred_username", "email_verified"):
        assert mocked[name] == actual[name], name
    assert set(mocked["scope"].split()) == set(actual["scope"].split())
    assert set(mocked["realm_access"]["roles"]) == set(actual["realm_access"]["roles"])  # Keycloak's defaults too
    assert mocked["resource_access"]["api"] == actual["resource_access"]["api"]
    # Keycloak takes iat and exp from separate clock readings, each rounded down: 300 or 301 s.
    assert abs((mocked["exp"] - mocked["iat"]) - (actual["exp"] - actual["iat"])) <= 1


def test_a_service_token_has_the_real_one_s_claims_and_types(real: dict[str, Any], mock: MockKeycloak) -> None:
    actual = segment(real["service"]["access_token"], 1)
    mocked = segment(mock.service_token("shop-api"), 1)
    assert_same_shape(mocked, actual, unknowable={"allowed-origins"})
    for name in ("iss", "typ", "azp", "client_id", "preferred_username", "email_verified"):
        assert mocked[name] == actual[name], name
    assert set(mocked["scope"].split()) == set(actual["scope"].split())
    assert "sid" not in actual and "sid" not in mocked


def test_the_token_endpoint_answers_with_the_real_one_s_fields(
    real: dict[str, Any], mock: MockKeycloak, settings: KeycloakSettings
) -> None:
    async def ask() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=mock.transport) as client:
            form = {"grant_type": "client_credentials"}
            return dict((await client.post(settings.token_url, data=form, auth=("shop-api", "shop-api-secret"))).json())

    mocked = asyncio.run(ask())
    assert set(mocked) == set(real["service"])
    assert {name: json_type(value) for name, value in mocked.items()} == {
        name: json_type(value) for name, value in real["service"].items()
    }
    assert set(mocked["scope"].split()) == set(real["service"]["scope"].split())


def test_an_exchange_answers_and_issues_like_the_real_one(
    real: dict[str, Any], mock: MockKeycloak, settings: KeycloakSettings
) -> None:
    subject = mock.token(username="mario", realm_roles=["customer"], audience=["api", "shop-api"])

    async def ask() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=mock.transport) as client:
            form = {**EXCHANGE, "subject_token": subject}
            return dict((await client.post(settings.token_url, data=form, auth=("shop-api", "shop-api-secret"))).json())

    mocked_answer, actual_answer = asyncio.run(ask()), real["exchanged"]
    assert set(mocked_answer) == set(actual_answer)
    assert mocked_answer["issued_token_type"] == actual_answer["issued_token_type"]
    mocked, actual = segment(mocked_answer["access_token"], 1), segment(actual_answer["access_token"], 1)
    assert_same_shape(mocked, actual, unknowable=USER_PROFILE_AND_MAPPERS)
    for name in ("aud", "azp", "typ", "preferred_username"):
        assert mocked[name] == actual[name], name


def post_real(url: str, form: dict[str, str], client: tuple[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode())  # noqa: S310 - test's own
    request.add_header("Authorization", "Basic " + base64.b64encode(":".join(client).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the test's own Keycloak
            return response.status, dict(json.loads(response.read()))
    except urllib.error.HTTPError as refused:
        return refused.code, dict(json.loads(refused.read()))


def test_client_authentication_and_introspection_answer_like_the_real_ones(
    keycloak: KeycloakServer, real: dict[str, Any], mock: MockKeycloak, settings: KeycloakSettings
) -> None:
    realm = f"{keycloak.internal_url}/realms/demo/protocol/openid-connect"
    user_token = real["user"]["access_token"]
    mocked_token = mock.token(username="mario", realm_roles=["customer"])
    grant = {"grant_type": "client_credentials"}
    asks = {  # what is asked: (endpoint, form, client)
        "wrong secret, token": ("token", grant, ("shop-api", "Zq9-not-the-secret")),
        "unknown client, token": ("token", grant, ("stranger", "s")),
        "wrong secret, introspection": ("token/introspect", {"token": "x"}, ("shop-api", "Zq9-not-the-secret")),
        "unknown client, introspection": ("token/introspect", {"token": "x"}, ("stranger", "s")),
        "garbled token": ("token/introspect", {"token": "not.a.token"}, ("shop-api", "shop-api-secret")),
    }

    async def ask_mock(path: str, form: dict[str, str], client: tuple[str, str]) -> tuple[int, dict[str, Any]]:
        url = settings.token_url if path == "token" else settings.introspection_url
        async with httpx.AsyncClient(transport=mock.transport) as http:
            answer = await http.post(url, data=form, auth=client)
        return answer.status_code, dict(answer.json())

    for what, (path, form, client) in asks.items():
        assert asyncio.run(ask_mock(path, form, client)) == post_real(f"{realm}/{path}", form, client), what
    status, actual = post_real(f"{realm}/token/introspect", {"token": user_token}, ("shop-api", "shop-api-secret"))
    mocked_status, mocked = asyncio.run(
        ask_mock("token/introspect", {"token": mocked_token}, ("shop-api", "shop-api-secret"))
    )
    assert (mocked_status, status) == (200, 200)
    assert_same_shape(mocked, actual, unknowable=USER_PROFILE_AND_MAPPERS)
    for name in ("active", "token_type", "username", "client_id"):
        assert mocked[name] == actual[name], name
