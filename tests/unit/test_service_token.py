"""`ServiceTokenClient`: client-credentials tokens, one request however many callers, never the secret.

The token endpoint is the fake Keycloak behind `httpx.MockTransport`; the clock is injected, so
renewal is tested without waiting. Real sleeps are kept to Retry-After's one-second minimum.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import httpx2
import pytest

from fastapi_kc import ConfigurationError, KeycloakSettings, ServiceTokenClient, TokenRequestError
from fastapi_kc._token_endpoint import CachedToken, IssuedToken
from tests.support.clock import Clock
from tests.support.fake_keycloak import CLIENT_SECRET, FakeKeycloak

T = TypeVar("T")


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


def make_client(
    fake: FakeKeycloak, values: dict[str, object], clock: Clock | None = None, **options: Any
) -> ServiceTokenClient:
    return ServiceTokenClient(
        KeycloakSettings(**values), http_client=fake.client(), clock=clock or Clock(1000.0), **options
    )


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met within a second")


def keycloak_answer(status: int, error: str, description: str = "", **headers: str) -> httpx.Response:
    body = {"error": error, **({"error_description": description} if description else {})}
    return httpx.Response(status, json=body, headers=headers)


# --- one request, cached, renewed in time -------------------------------------------------------


def test_a_hundred_concurrent_callers_cause_one_request(fake_keycloak: FakeKeycloak, settings_values) -> None:
    fake_keycloak.token_delay = 0.05

    async def scenario() -> list[str]:
        async with make_client(fake_keycloak, settings_values) as client:
            return await asyncio.gather(*(client.get_token() for _ in range(100)))

    assert run(scenario) == ["service-token-1"] * 100
    assert fake_keycloak.token_hits == 1


def test_the_token_is_cached_until_its_renewal_time(fake_keycloak: FakeKeycloak, settings_values) -> None:
    clock = Clock(1000.0)

    async def scenario() -> list[str]:
        async with make_client(fake_keycloak, settings_values, clock, renew_before_seconds=30) as client:
            first = await client.get_token()
            clock.now += 269  # lifetime 300, renewed 30 s before expiry
            return [first, await client.get_token()]

    assert run(scenario) == ["service-token-1", "service-token-1"]
    assert fake_keycloak.token_hits == 1


def test_the_token_is_renewed_before_it_expires(fake_keycloak: FakeKeycloak, settings_values) -> None:
    clock = Clock(1000.0)

    async def scenario() -> list[str]:
        async with make_client(fake_keycloak, settings_values, clock, renew_before_seconds=30) as client:
            await client.get_token()
            clock.now += 271  # inside the renewal window, 29 s before expiry
            served = [await client.get_token()]
            for _ in range(100):  # until the background renewal lands
                served.append(await client.get_token())
                if served[-1] != "service-token-1":
                    break
                await asyncio.sleep(0.01)
            return served

    served = run(scenario)
    assert served[0] == "service-token-1"  # still valid: served while the renewal runs
    assert served[-1] == "service-token-2"
    assert fake_keycloak.token_hits == 2


def test_a_still_valid_token_is_served_while_the_renewal_is_in_flight(
    fake_keycloak: FakeKeycloak, settings_values
) -> None:
    clock = Clock(1000.0)

    async def scenario() -> str:
        async with make_client(fake_keycloak, settings_values, clock, renew_before_seconds=30) as client:
            await client.get_token()
            fake_keycloak.token_delay = 30  # the renewal hangs; closing the client cancels it
            clock.now += 290
            return await asyncio.wait_for(client.get_token(), timeout=1)

    assert run(scenario) == "service-token-1"
    assert fake_keycloak.token_hits == 2


def test_an_expired_token_is_never_served(fake_keycloak: FakeKeycloak, settings_values) -> None:
    clock = Clock(1000.0)

    async def scenario() -> str:
        async with make_client(fake_keycloak, settings_values, clock) as client:
            await client.get_token()
            clock.now += 300
            return await client.get_token()

    assert run(scenario) == "service-token-2"


# --- retries -----------------------------------------------------------------------------------------


def test_503s_are_retried_with_backoff_until_a_token_comes(fake_keycloak: FakeKeycloak, settings_values) -> None:
    fake_keycloak.token_failures = [keycloak_answer(503, "unavailable"), keycloak_answer(503, "unavailable")]

    async def scenario() -> tuple[str, float]:
        async with make_client(fake_keycloak, settings_values, max_attempts=3, backoff_seconds=0.05) as client:
            started = time.monotonic()
            token = await client.get_token()
            return token, time.monotonic() - started

    token, elapsed = run(scenario)
    assert token == "service-token-1"
    assert fake_keycloak.token_hits == 3
    assert elapsed >= 0.05 + 0.1  # exponential: 0.05 s, then 0.1 s


def test_retries_stop_after_max_attempts_with_keycloaks_status(fake_keycloak: FakeKeycloak, settings_values) -> None:
    fake_keycloak.token_failures = [keycloak_answer(503, "unavailable") for _ in range(5)]

    async def scenario() -> None:
        async with make_client(fake_keycloak, settings_values, max_attempts=3, backoff_seconds=0.001) as client:
            await client.get_token()

    with pytest.raises(TokenRequestError) as info:
        run(scenario)
    assert info.value.status_code == 503
    assert fake_keycloak.token_hits == 3


def test_a_429_retry_after_is_honoured(fake_keycloak: FakeKeycloak, settings_values) -> None:
    fake_keycloak.token_failures = [keycloak_answer(429, "slow_down", **{"Retry-After": "1"})]

    async def scenario() -> tuple[str, float]:
        async with make_client(fake_keycloak, settings_values, backoff_seconds=0.001) as client:
            started = time.monotonic()
            token = await client.get_token()
            return token, time.monotonic() - started

    token, elapsed = run(scenario)
    assert token == "service-token-1"
    assert fake_keycloak.token_hits == 2
    assert elapsed >= 0.95


def test_a_retry_after_beyond_the_cap_fails_fast_and_is_respected_by_later_calls(
    fake_keycloak: FakeKeycloak, settings_values
) -> None:
    fake_keycloak.token_failures = [keycloak_answer(429, "slow_down", **{"Retry-After": "50"})]
    clock = Clock(1000.0)

    async def scenario() -> tuple[list[TokenRequestError], int, str]:
        refusals: list[TokenRequestError] = []
        async with make_client(fake_keycloak, settings_values, clock) as client:
            for advance in (0, 30, 19):
                clock.now += advance
                try:
                    await asyncio.wait_for(client.get_token(), timeout=1)
                except TokenRequestError as exc:
                    refusals.append(exc)
            hits_while_waiting = fake_keycloak.token_hits
            clock.now += 2  # 51 s after the 429
            return refusals, hits_while_waiting, await client.get_token()

    refusals, hits_while_waiting, token = run(scenario)
    assert [exc.status_code for exc in refusals] == [429, 429, 429]
    assert hits_while_waiting == 1
    assert token == "service-token-1"


def test_a_still_valid_token_is_served_while_keycloak_asks_to_wait(
    fake_keycloak: FakeKeycloak, settings_values
) -> None:
    clock = Clock(1000.0)

    async def scenario() -> list[str]:
        async with make_client(fake_keycloak, settings_values, clock, renew_before_seconds=30) as client:
            await client.get_token()
            fake_keycloak.token_failures = [keycloak_answer(429, "slow_down", **{"Retry-After": "120"})]
            clock.now += 271  # the renewal is refused with a long Retry-After...
            served = [await client.get_token()]
            await until(lambda: fake_keycloak.token_hits == 2)
            await asyncio.sleep(0.01)
            clock.now += 20  # ...while the token is still valid for 9 s
            served.append(await client.get_token())
            return served

    assert run(scenario) == ["service-token-1", "service-token-1"]
    assert fake_keycloak.token_hits == 2


# --- refusals --------------------------------------------------------------------------------------


def test_wrong_credentials_raise_keycloaks_401_without_the_secret(fake_keycloak: FakeKeycloak, settings_values) -> None:
    wrong_secret = "wrong-secret-7f3a9c"

    async def scenario() -> None:
        async with make_client(fake_keycloak, {**settings_values, "client_secret": wrong_secret}) as client:
            await client.get_token()

    with pytest.raises(TokenRequestError) as info:
        run(scenario)
    assert info.value.status_code == 401
    assert info.value.error == "unauthorized_client"
    assert "KEYCLOAK_CLIENT_SECRET" in str(info.value)
    assert wrong_secret not in str(info.value) and wrong_secret not in repr(info.value)
    assert fake_keycloak.token_hits == 1  # a refusal is not retried


def test_a_client_without_a_service_account_is_told_how_to_enable_it(
    fake_keycloak: FakeKeycloak, settings_values
) -> None:
    fake_keycloak.token_failures = [
        keycloak_answer(400, "unauthorized_client", "Client not enabled to retrieve service account")
    ]

    async def scenario() -> None:
        async with make_client(fake_keycloak, settings_values) as client:
            await client.get_token()

    with pytest.raises(TokenRequestError) as info:
        run(scenario)
    assert info.value.status_code == 400
    assert "Service accounts roles" in str(info.value)
    assert fake_keycloak.token_hits == 1


@pytest.mark.parametrize("missing", ["client_id", "client_secret"])
def test_a_client_without_id_or_secret_is_a_configuration_error(settings_values, missing: str) -> None:
    values = {k: v for k, v in settings_values.items() if k != missing}
    with pytest.raises(ConfigurationError, match=f"KEYCLOAK_{missing.upper()}"):
        ServiceTokenClient(KeycloakSettings(**values))


# --- httpx.Auth for outgoing calls -------------------------------------------------------------


HTTP_LIBRARIES = [pytest.param(httpx, id="httpx"), pytest.param(httpx2, id="httpx2")]


def downstream(answers: Callable[[str], int], library: Any = httpx) -> tuple[Any, list[str]]:
    """A downstream service recording the Authorization headers it sees, called with `library`'s client."""
    seen: list[str] = []

    def handle(request: Any) -> Any:
        seen.append(request.headers.get("Authorization", ""))
        return library.Response(answers(seen[-1]))

    return library.AsyncClient(transport=library.MockTransport(handle), base_url="https://orders.internal.test"), seen


@pytest.mark.parametrize("library", HTTP_LIBRARIES)
def test_auth_attaches_the_token_to_outgoing_requests(
    fake_keycloak: FakeKeycloak, settings_values, library: Any
) -> None:
    http, seen = downstream(lambda authorization: 200, library)

    async def scenario() -> list[int]:
        async with make_client(fake_keycloak, settings_values) as tokens, http:
            return [(await http.get("/orders", auth=tokens.auth())).status_code for _ in range(2)]

    assert run(scenario) == [200, 200]
    assert seen == ["Bearer service-token-1", "Bearer service-token-1"]
    assert fake_keycloak.token_hits == 1


@pytest.mark.parametrize("library", HTTP_LIBRARIES)
def test_auth_renews_the_token_once_when_the_downstream_answers_401(
    fake_keycloak: FakeKeycloak, settings_values, library: Any
) -> None:
    http, seen = downstream(lambda authorization: 401 if authorization.endswith("-1") else 200, library)

    async def scenario() -> int:
        async with make_client(fake_keycloak, settings_values) as tokens, http:
            return (await http.get("/orders", auth=tokens.auth())).status_code

    assert run(scenario) == 200
    assert seen == ["Bearer service-token-1", "Bearer service-token-2"]
    assert fake_keycloak.token_hits == 2


@pytest.mark.parametrize("library", HTTP_LIBRARIES)
def test_auth_retries_only_once_when_the_downstream_keeps_answering_401(
    fake_keycloak: FakeKeycloak, settings_values, library: Any
) -> None:
    http, seen = downstream(lambda authorization: 401, library)

    async def scenario() -> int:
        async with make_client(fake_keycloak, settings_values) as tokens, http:
            return (await http.get("/orders", auth=tokens.auth())).status_code

    assert run(scenario) == 401
    assert seen == ["Bearer service-token-1", "Bearer service-token-2"]


# --- the secret stays secret -------------------------------------------------------------------


def test_the_secret_is_in_no_repr(fake_keycloak: FakeKeycloak, settings_values) -> None:
    settings = KeycloakSettings(**settings_values)
    client = ServiceTokenClient(settings, http_client=fake_keycloak.client(), backoff_seconds=0.001)
    fake_keycloak.token_failures = [keycloak_answer(503, "unavailable") for _ in range(3)]

    async def scenario() -> TokenRequestError:
        async with client:
            try:
                await client.get_token()
            except TokenRequestError as exc:
                return exc
        raise AssertionError("the token request should have failed")

    error = run(scenario)
    for text in (repr(settings), str(settings), repr(settings.client_secret), repr(client), repr(error), str(error)):
        assert CLIENT_SECRET not in text


def test_a_cached_or_issued_token_shows_no_token_in_its_repr() -> None:
    assert "secret-token" not in repr(CachedToken("secret-token", renew_at=1.0, expires_at=2.0))
    assert "secret-token" not in repr(IssuedToken("secret-token", lifetime=60.0))
