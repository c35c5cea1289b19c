"""`ServiceTokenClient.exchange`: RFC 8693 token exchange, cached per key, refusals worded by cause.

The fake Keycloak grants exchanges to `shop-api`; its refusals are Keycloak 26.5's answers as
observed (tests/integration/test_token_exchange.py asks the real server for each).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from fastapi_kc import KeycloakSettings, ServiceTokenClient, TokenRequestError
from fastapi_kc._token_endpoint import CachedToken
from fastapi_kc._token_exchange import ExchangeCache
from tests.support.clock import Clock
from tests.support.fake_keycloak import CLIENT_SECRET, FakeKeycloak

SUBJECT = "eyJhbGciOiJSUzI1NiJ9.mario-subject-token.c2lnbmF0dXJl"


def make_client(fake: FakeKeycloak, values: dict[str, Any], clock: Clock | None = None) -> ServiceTokenClient:
    return ServiceTokenClient(KeycloakSettings(**values), http_client=fake.client(), clock=clock or Clock(1000.0),
                              backoff_seconds=0)  # fmt: skip


def refusal(status: int, error: str, description: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "error_description": description})


def test_the_request_is_an_rfc_8693_exchange_authenticated_as_the_client(fake_keycloak, settings_values) -> None:
    async def main() -> str:
        async with make_client(fake_keycloak, settings_values) as client:
            return await client.exchange(SUBJECT, audience="billing", scope="orders")

    assert asyncio.run(main()) == "exchanged-token-1"
    assert fake_keycloak.exchanges == [{
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": SUBJECT,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "audience": "billing",
        "scope": "orders",
        "client_id": "shop-api",
        "client_secret": CLIENT_SECRET,
    }]  # fmt: skip


def test_without_audience_or_scope_neither_is_sent(fake_keycloak, settings_values) -> None:
    async def main() -> None:
        async with make_client(fake_keycloak, settings_values) as client:
            await client.exchange(SUBJECT)

    asyncio.run(main())
    assert "audience" not in fake_keycloak.exchanges[0] and "scope" not in fake_keycloak.exchanges[0]


def test_an_exchanged_token_is_reused_for_the_same_subject_audience_and_scope(fake_keycloak, settings_values) -> None:
    async def main() -> list[str]:
        async with make_client(fake_keycloak, settings_values) as client:
            return [await client.exchange(SUBJECT, audience="billing") for _ in range(3)]

    assert asyncio.run(main()) == ["exchanged-token-1"] * 3
    assert fake_keycloak.token_hits == 1


@pytest.mark.parametrize(
    "other",
    [{"subject_token": SUBJECT + "x"}, {"audience": "shipping"}, {"scope": "orders"}],
    ids=["other subject token", "other audience", "other scope"],
)
def test_another_subject_audience_or_scope_is_exchanged_anew(fake_keycloak, settings_values, other) -> None:
    first = {"subject_token": SUBJECT, "audience": "billing", "scope": None}

    async def main() -> tuple[str, str]:
        async with make_client(fake_keycloak, settings_values) as client:
            return await client.exchange(**first), await client.exchange(**{**first, **other})

    assert asyncio.run(main()) == ("exchanged-token-1", "exchanged-token-2")


def test_fifty_concurrent_callers_cause_one_exchange(fake_keycloak, settings_values) -> None:
    fake_keycloak.token_delay = 0.05

    async def main() -> set[str]:
        async with make_client(fake_keycloak, settings_values) as client:
            return set(await asyncio.gather(*(client.exchange(SUBJECT, audience="billing") for _ in range(50))))

    assert asyncio.run(main()) == {"exchanged-token-1"}
    assert fake_keycloak.token_hits == 1


def test_the_exchanged_token_is_renewed_shortly_before_it_expires(fake_keycloak, settings_values) -> None:
    clock = Clock(1000.0)

    async def main() -> list[str]:
        async with make_client(fake_keycloak, settings_values, clock) as client:
            seen = [await client.exchange(SUBJECT, audience="billing")]
            clock.now += 269  # lifetime 300, renewed 30 s before: still cached
            seen.append(await client.exchange(SUBJECT, audience="billing"))
            clock.now += 2  # within the renewal window: served while renewed...
            seen.append(await client.exchange(SUBJECT, audience="billing"))
            await asyncio.sleep(0.05)
            seen.append(await client.exchange(SUBJECT, audience="billing"))  # ...then the new one
            return seen

    assert asyncio.run(main()) == ["exchanged-token-1"] * 3 + ["exchanged-token-2"]


def test_a_503_is_retried(fake_keycloak, settings_values) -> None:
    fake_keycloak.token_failures = [httpx.Response(503, json={"error": "temporarily_unavailable"})]

    async def main() -> str:
        async with make_client(fake_keycloak, settings_values) as client:
            return await client.exchange(SUBJECT, audience="billing")

    assert asyncio.run(main()) == "exchanged-token-1"
    assert fake_keycloak.token_hits == 2


def test_a_refusal_is_not_cached(fake_keycloak, settings_values) -> None:
    fake_keycloak.token_failures = [refusal(400, "invalid_request", "Invalid token")]

    async def main() -> str:
        async with make_client(fake_keycloak, settings_values) as client:
            with pytest.raises(TokenRequestError):
                await client.exchange(SUBJECT, audience="billing")
            return await client.exchange(SUBJECT, audience="billing")

    assert asyncio.run(main()) == "exchanged-token-1"


# --- refusals: Keycloak's code, what it means here, the fix; never a token or the secret ----------

REFUSALS = {
    "not enabled": (
        refusal(400, "invalid_request", "Standard token exchange is not enabled for the requested client"),
        ["token exchange is not enabled for client 'shop-api'", "Standard Token Exchange: On"],
    ),
    "subject not for requester": (
        refusal(403, "access_denied", "Client is not within the token audience"),
        ["not issued for client 'shop-api'", "audience mapper for 'shop-api'"],
    ),
    "audience not available": (
        refusal(400, "invalid_request", "Requested audience not available: billing"),
        ["'shop-api' may not request tokens for audience 'billing'", "Included Client Audience 'billing'"],
    ),
    "unknown audience": (
        refusal(400, "invalid_client", "Audience not found"),
        ["audience 'billing' is not a client of realm 'demo'"],
    ),
    "unknown scope": (
        refusal(400, "invalid_scope", "Invalid scopes: orders"),
        ["refuses scope 'orders'", "Clients > shop-api > Client scopes"],
    ),
    "invalid subject token": (
        refusal(400, "invalid_request", "Invalid token"),
        ["does not accept the subject token"],
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_each_refusal_names_keycloaks_error_and_the_fix(fake_keycloak, settings_values, case: str) -> None:
    answer, expected = REFUSALS[case]
    fake_keycloak.token_failures = [answer]

    async def main() -> str:
        async with make_client(fake_keycloak, settings_values) as client:
            return await client.exchange(SUBJECT, audience="billing", scope="orders")

    with pytest.raises(TokenRequestError) as info:
        asyncio.run(main())
    body = answer.json()
    assert (info.value.status_code, info.value.error) == (answer.status_code, body["error"])
    message = str(info.value)
    assert all(text in message for text in expected), message
    assert body["error"] in message
    assert SUBJECT not in message + repr(info.value) and CLIENT_SECRET not in message


def test_an_unknown_audience_is_not_worded_as_a_client_or_secret_problem(fake_keycloak, settings_values) -> None:
    fake_keycloak.token_failures = [refusal(400, "invalid_client", "Audience not found")]

    async def main() -> str:
        async with make_client(fake_keycloak, settings_values) as client:
            return await client.exchange(SUBJECT, audience="biling")

    with pytest.raises(TokenRequestError) as info:
        asyncio.run(main())
    message = str(info.value).lower()
    assert "secret" not in message and "disabled" not in message and "knows no enabled client" not in message


def test_a_wrong_secret_is_still_worded_as_one(fake_keycloak, settings_values) -> None:
    async def main() -> str:
        async with make_client(fake_keycloak, {**settings_values, "client_secret": "Zq9-wrong"}) as client:
            return await client.exchange(SUBJECT, audience="billing")

    with pytest.raises(TokenRequestError, match="KEYCLOAK_CLIENT_SECRET") as info:
        asyncio.run(main())
    assert "Zq9-wrong" not in str(info.value)


@pytest.mark.parametrize(
    "arguments",
    [
        {"subject_token": ""},
        {"subject_token": "  "},
        {"subject_token": SUBJECT, "audience": ""},
        {"subject_token": SUBJECT, "scope": " "},
    ],
    ids=["empty subject", "blank subject", "empty audience", "blank scope"],
)
def test_empty_arguments_are_a_callers_mistake(fake_keycloak, settings_values, arguments) -> None:
    async def main() -> str:
        async with make_client(fake_keycloak, settings_values) as client:
            return await client.exchange(**arguments)

    with pytest.raises(ValueError, match="exchange"):
        asyncio.run(main())
    assert fake_keycloak.token_hits == 0


def test_an_unstarted_client_says_so(fake_keycloak, settings_values) -> None:
    client = make_client(fake_keycloak, settings_values)
    with pytest.raises(TokenRequestError, match="not started"):
        asyncio.run(client.exchange(SUBJECT))


# --- the cache itself ----------------------------------------------------------------------------


def test_the_cache_keeps_at_most_its_bound_dropping_expired_then_oldest() -> None:
    clock = Clock(1000.0)
    cache = ExchangeCache(clock, max_entries=2)

    async def fetch_for(value: str, lifetime: float) -> CachedToken:
        return CachedToken(value, clock.now + lifetime / 2, clock.now + lifetime)

    async def main() -> list[str]:
        await cache.get(("a", None, None), lambda: fetch_for("a", 10))
        await cache.get(("b", None, None), lambda: fetch_for("b", 1000))
        clock.now += 20  # "a" has expired
        await cache.get(("c", None, None), lambda: fetch_for("c", 1000))
        await cache.get(("d", None, None), lambda: fetch_for("d", 1000))  # "b" is the oldest
        assert len(cache) == 2
        return [await cache.get((k, None, None), lambda k=k: fetch_for(f"{k}-new", 1000)) for k in "cdb"]

    assert asyncio.run(main()) == ["c", "d", "b-new"]


def test_a_failed_renewal_is_logged_while_the_valid_token_keeps_serving(
    fake_keycloak, settings_values, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(1000.0)

    async def main() -> list[str]:
        async with make_client(fake_keycloak, settings_values, clock) as client:
            seen = [await client.exchange(SUBJECT, audience="billing")]
            fake_keycloak.token_failures = [refusal(400, "invalid_request", "Invalid token")]
            clock.now += 280  # renewal due, the token still valid
            seen.append(await client.exchange(SUBJECT, audience="billing"))
            await asyncio.sleep(0.05)
            return seen

    assert asyncio.run(main()) == ["exchanged-token-1", "exchanged-token-1"]
    assert "token exchange failed: Keycloak does not accept the subject token" in caplog.text
    assert SUBJECT not in caplog.text


def test_a_long_retry_after_fails_fast_and_holds_later_exchanges_back(fake_keycloak, settings_values) -> None:
    clock = Clock(1000.0)
    fake_keycloak.token_failures = [httpx.Response(429, headers={"Retry-After": "50"}, json={"error": "slow_down"})]

    async def main() -> None:
        async with make_client(fake_keycloak, settings_values, clock) as client:
            with pytest.raises(TokenRequestError) as first:
                await client.exchange(SUBJECT, audience="billing")
            assert first.value.status_code == 429
            clock.now += 30
            with pytest.raises(TokenRequestError, match="retry token requests later"):
                await client.exchange(SUBJECT, audience="billing")
            clock.now += 21
            assert await client.exchange(SUBJECT, audience="billing") == "exchanged-token-1"

    asyncio.run(main())
    assert fake_keycloak.token_hits == 2


def test_an_endless_answer_is_cut_off_at_the_bound(fake_keycloak, settings_values) -> None:
    fake_keycloak.token_failures = [httpx.Response(200, content=b"{" + b" " * (2 * 1024 * 1024))]

    async def main() -> str:
        async with make_client(fake_keycloak, settings_values) as client:
            return await client.exchange(SUBJECT, audience="billing")

    with pytest.raises(TokenRequestError, match="answered more than 1048576 bytes"):
        asyncio.run(main())
