"""`Retry-After` cannot stop service tokens for long (issue 10, item 10).

A 429 with `Retry-After` makes `ServiceTokenClient` fail fast until the wait has passed. The
wait is capped at `RETRY_AFTER_CAP_SECONDS` (60 s): a proxy answering `Retry-After: 86400`, or
one so long that it parses as an infinite float, must not stop service tokens until a restart.
"""

from __future__ import annotations

import asyncio

import pytest

from fastapi_kc import TokenRequestError
from fastapi_kc._token_endpoint import RETRY_AFTER_CAP_SECONDS
from tests.support.clock import Clock
from tests.support.fake_keycloak import FakeKeycloak
from tests.unit.test_service_token import keycloak_answer, make_client, run


def test_the_cap_is_sixty_seconds() -> None:
    assert RETRY_AFTER_CAP_SECONDS == 60


@pytest.mark.parametrize("retry_after", ["86400", "9" * 400], ids=["a-day", "infinite-as-float"])
def test_a_huge_retry_after_is_honoured_for_the_cap_only(
    fake_keycloak: FakeKeycloak, settings_values: dict[str, object], retry_after: str
) -> None:
    fake_keycloak.token_failures = [keycloak_answer(429, "slow_down", **{"Retry-After": retry_after})]
    clock = Clock(1000.0)

    async def scenario() -> tuple[list[int | None], int, str]:
        refusals: list[int | None] = []
        async with make_client(fake_keycloak, settings_values, clock) as client:
            for advance in (0, 30, 29):  # within the cap: refused at once, Keycloak not asked again
                clock.now += advance
                try:
                    await asyncio.wait_for(client.get_token(), timeout=1)
                except TokenRequestError as exc:
                    refusals.append(exc.status_code)
            hits_while_waiting = fake_keycloak.token_hits
            clock.now += 2  # 61 s after the 429: past the cap
            return refusals, hits_while_waiting, await asyncio.wait_for(client.get_token(), timeout=1)

    refusals, hits_while_waiting, token = run(scenario)
    assert refusals == [429, 429, 429] and hits_while_waiting == 1
    assert token == "service-token-1" and fake_keycloak.token_hits == 2
