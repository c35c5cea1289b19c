"""Token exchange against the mock: the user stays, the audience changes, refusals as Keycloak's."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from fastapi_kc import AuthError, KeycloakAuth, KeycloakSettings, Principal, ServiceTokenClient, TokenRequestError
from fastapi_kc.testing import MockKeycloak
from tests.testing_kit.conftest import NetworkGuard


def payload_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


class Exchange:
    """The API (audience orders-api) and its token client (`billing`) on one mock."""

    def __init__(self, settings: KeycloakSettings) -> None:
        self.auth, self.tokens = KeycloakAuth(settings), ServiceTokenClient(settings)
        self.keycloak = MockKeycloak(self.auth, self.tokens)

    def run(self, subject_token: str, audience: str) -> tuple[str, Principal | AuthError]:
        async def main() -> tuple[str, Principal | AuthError]:
            async with self.keycloak, self.auth, self.tokens:
                exchanged = await self.tokens.exchange(subject_token, audience=audience)
                try:
                    return exchanged, await self.auth.verify(exchanged)
                except AuthError as exc:
                    return exchanged, exc

        return asyncio.run(main())


@pytest.fixture
def exchange(settings: KeycloakSettings) -> Exchange:
    return Exchange(settings)


def test_the_exchanged_token_keeps_the_user_and_names_the_requester(exchange: Exchange, network: NetworkGuard) -> None:
    mario = exchange.keycloak.token(username="mario", realm_roles=["customer"], audience=["orders-api", "billing"])
    exchanged, principal = exchange.run(mario, "orders-api")
    assert isinstance(principal, Principal)
    assert (principal.username, principal.subject) == ("mario", payload_of(mario)["sub"])
    assert principal.authorized_party == "billing" and principal.has_role("customer")
    assert payload_of(exchanged)["aud"] == "orders-api" and not principal.is_service_account
    assert network.attempts == []


def test_a_token_exchanged_for_another_audience_is_refused_here(exchange: Exchange) -> None:
    mario = exchange.keycloak.token(username="mario", audience=["orders-api", "billing"])
    exchanged, outcome = exchange.run(mario, "reports-api")
    assert payload_of(exchanged)["aud"] == "reports-api"
    assert isinstance(outcome, AuthError) and outcome.reason == "audience"


def test_a_subject_token_that_does_not_name_the_client_is_access_denied(exchange: Exchange) -> None:
    with pytest.raises(TokenRequestError) as info:
        exchange.run(exchange.keycloak.token(audience="orders-api"), "orders-api")
    assert (info.value.status_code, info.value.error) == (403, "access_denied")


@pytest.mark.parametrize("kind", ["expired", "another mock"])
def test_a_subject_token_keycloak_would_not_accept_is_invalid_request(
    exchange: Exchange, settings: KeycloakSettings, kind: str
) -> None:
    issuer = exchange.keycloak if kind == "expired" else MockKeycloak(KeycloakAuth(settings))
    subject = issuer.token(audience=["orders-api", "billing"], expires_in=-60 if kind == "expired" else 300)
    with pytest.raises(TokenRequestError) as info:
        exchange.run(subject, "orders-api")
    assert (info.value.status_code, info.value.error) == (400, "invalid_request")
