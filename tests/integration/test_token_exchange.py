"""Token exchange (RFC 8693) with Keycloak 26.5's standard token exchange, for real.

The realm (keycloak_dev/realm-demo.json): `shop-api` has Standard Token Exchange on; `web` puts
`shop-api` into its users' tokens (so `shop-api` may exchange them); `shop-api`'s audience
mapper makes `billing` available to it. `rogue` has exchange off; `legacy-portal`'s tokens do
not name `shop-api`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fastapi_kc import AuthError, KeycloakAuth, Principal, ServiceTokenClient, TokenRequestError
from keycloak_dev import KeycloakServer
from tests.integration.conftest import SECRETS, CountingProxy, claims_of, settings_for, user_token

TOKEN_PATH = "/realms/demo/protocol/openid-connect/token"


def exchange(keycloak: KeycloakServer, subject_token: str, **arguments: Any) -> str:
    settings = settings_for(keycloak, **arguments.pop("settings", {}))

    async def main() -> str:
        async with ServiceTokenClient(settings, max_attempts=1) as client:
            return await client.exchange(subject_token, **arguments)

    return asyncio.run(main())


def test_marios_token_is_exchanged_for_one_that_billing_accepts(keycloak: KeycloakServer) -> None:
    mario = user_token(keycloak, "mario")
    exchanged = exchange(keycloak, mario, audience="billing")

    async def verify_as_billing() -> Principal:
        async with KeycloakAuth(settings_for(keycloak, audience="billing")) as billing:
            return await billing.verify(exchanged)

    principal = asyncio.run(verify_as_billing())
    assert principal.username == "mario" and principal.subject == claims_of(mario)["sub"]
    assert principal.audience == {"billing"} and principal.authorized_party == "shop-api"
    assert not principal.is_service_account


def test_the_exchanged_token_is_no_longer_accepted_by_the_api_it_came_from(keycloak: KeycloakServer) -> None:
    exchanged = exchange(keycloak, user_token(keycloak, "mario"), audience="billing")

    async def verify_as_api() -> Principal | AuthError:
        async with KeycloakAuth(settings_for(keycloak)) as api:
            try:
                return await api.verify(exchanged)
            except AuthError as exc:
                return exc

    result = asyncio.run(verify_as_api())
    assert isinstance(result, AuthError) and result.reason == "audience"


def test_twenty_concurrent_exchanges_of_one_token_cause_one_request(
    keycloak: KeycloakServer, proxy: CountingProxy
) -> None:
    settings = settings_for(keycloak, internal_url=proxy.url)
    mario = user_token(keycloak, "mario")

    async def main() -> set[str]:
        async with ServiceTokenClient(settings) as client:
            return set(await asyncio.gather(*(client.exchange(mario, audience="billing") for _ in range(20))))

    assert len(asyncio.run(main())) == 1
    assert proxy.count("POST", TOKEN_PATH) == 1


def subject_token(keycloak: KeycloakServer, kind: str) -> str:
    """mario's access token from `web` or `legacy-portal`, or from `web` with its signature altered."""
    token = user_token(keycloak, "mario", client_id="legacy-portal" if kind == "legacy-portal" else "web")
    if kind == "altered":
        head, payload, signature = token.split(".")
        token = f"{head}.{payload}.{signature[:-8]}{'A' * 8 if not signature.endswith('A' * 8) else 'B' * 8}"
    return token


REFUSED = {
    "exchange not enabled for the requester": (
        {"settings": {"client_id": "rogue", "client_secret": SECRETS["rogue"]}, "audience": "billing"},
        (400, "invalid_request"),
        "token exchange is not enabled for client 'rogue'",
    ),
    "subject token not for the requester": (
        {"subject": "legacy-portal", "audience": "billing"},
        (403, "access_denied"),
        "the subject token was not issued for client 'shop-api'",
    ),
    "audience not available to the requester": (
        {"audience": "rogue"},
        (400, "invalid_request"),
        "client 'shop-api' may not request tokens for audience 'rogue'",
    ),
    "unknown audience": (
        {"audience": "no-such-service"},
        (400, "invalid_client"),
        "the requested audience 'no-such-service' is not a client of realm 'demo'",
    ),
    "unknown scope": (
        {"audience": "billing", "scope": "no-such-scope"},
        (400, "invalid_scope"),
        "Keycloak refuses scope 'no-such-scope' for client 'shop-api'",
    ),
    "altered subject token": (
        {"subject": "altered", "audience": "billing"},
        (400, "invalid_request"),
        "Keycloak does not accept the subject token",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_each_refusal_carries_keycloaks_answer_and_says_what_to_change(keycloak: KeycloakServer, case: str) -> None:
    arguments, (status, error), problem = REFUSED[case]
    arguments = dict(arguments)
    subject = subject_token(keycloak, arguments.pop("subject", "web"))
    with pytest.raises(TokenRequestError) as info:
        exchange(keycloak, subject, **arguments)
    message = str(info.value)
    assert (info.value.status_code, info.value.error) == (status, error)
    assert problem in message and "fix:" in message
    assert subject not in message and subject[-40:] not in message
    assert all(secret not in message for secret in SECRETS.values())


def test_an_unknown_audience_is_not_blamed_on_the_client_or_its_secret(keycloak: KeycloakServer) -> None:
    with pytest.raises(TokenRequestError) as info:
        exchange(keycloak, user_token(keycloak, "mario"), audience="no-such-service")
    message = str(info.value).lower()
    assert "secret" not in message and "disabled" not in message
