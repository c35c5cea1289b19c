"""verify(): keys from the internal URL, cached, refreshed, never stormed; tokens checked strictly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from fastapi_kc import AuthError, KeycloakAuth, KeycloakSettings, Principal
from tests.support.clock import Clock
from tests.support.fake_keycloak import CERTS_PATH, FakeKeycloak
from tests.support.outcomes import outcome
from tests.support.tokens import INTERNAL_URL, SigningKey, mint, user_claims

T = TypeVar("T")


def run(
    fake: FakeKeycloak,
    values: dict[str, object],
    body: Callable[[KeycloakAuth], Awaitable[T]],
    clock: Callable[[], float] | None = None,
) -> T:
    async def main() -> T:
        extra: dict[str, Any] = {"clock": clock} if clock else {}
        async with KeycloakAuth(KeycloakSettings(**values), http_client=fake.client(), **extra) as auth:
            return await body(auth)

    return asyncio.run(main())


def test_a_valid_token_gives_the_principal(fake_keycloak: FakeKeycloak, settings_values, signing_key) -> None:
    principal = run(fake_keycloak, settings_values, lambda auth: auth.verify(mint(user_claims(), signing_key)))
    assert principal.username == "mario"


def test_keys_come_only_from_the_internal_jwks_url(fake_keycloak, settings_values, signing_key) -> None:
    run(fake_keycloak, settings_values, lambda auth: auth.verify(mint(user_claims(), signing_key)))
    hosts = {str(r.url).split("/realms")[0] for r in fake_keycloak.requests}
    assert hosts == {INTERNAL_URL}
    assert fake_keycloak.certs_hits == 1


def test_a_repeated_token_is_answered_from_the_cache_from_its_second_sighting_on(
    fake_keycloak, settings_values, signing_key, monkeypatch
) -> None:
    import fastapi_kc._verifier as verifier

    checks: list[object] = []
    real = verifier.verify_signature
    monkeypatch.setattr(verifier, "verify_signature", lambda *a: checks.append(a) or real(*a))
    token = mint(user_claims(), signing_key)

    async def four_times(auth: KeycloakAuth) -> list[Principal]:
        return [await auth.verify(token) for _ in range(4)]

    _, second, third, fourth = run(fake_keycloak, settings_values, four_times)
    assert second is third is fourth
    assert len(checks) == 2


def test_a_token_seen_once_leaves_nothing_in_the_cache(fake_keycloak, settings_values, signing_key) -> None:
    tokens = [mint(user_claims(), signing_key) for _ in range(5)]

    async def each_once(auth: KeycloakAuth) -> int:
        for token in tokens:
            await auth.verify(token)
        return len(auth._verifier._cache)

    assert run(fake_keycloak, settings_values, each_once) == 0


def test_a_cached_token_still_expires(fake_keycloak, settings_values, signing_key) -> None:
    clock = Clock()
    token = mint(user_claims(exp=int(clock.now) + 60), signing_key)

    async def later(auth: KeycloakAuth) -> Principal | AuthError:
        await auth.verify(token)
        await auth.verify(token)  # cached now
        clock.now += 60 + 31
        return await outcome(auth, token)

    result = run(fake_keycloak, settings_values, later, clock)
    assert isinstance(result, AuthError) and result.reason == "expired"


def test_the_verified_token_cache_is_bounded(fake_keycloak, settings_values, signing_key) -> None:
    tokens = [mint(user_claims(), signing_key) for _ in range(5)]

    async def many(auth: KeycloakAuth) -> int:
        for token in tokens:
            await auth.verify(token)
            await auth.verify(token)  # cached from the second sighting on
        return len(auth._verifier._cache)

    assert run(fake_keycloak, {**settings_values, "token_cache_size": 3}, many) == 3


def test_a_key_removed_in_keycloak_stops_being_trusted_at_the_next_fetch(
    fake_keycloak, settings_values, signing_key
) -> None:
    old_token = mint(user_claims(), signing_key)
    new_key = SigningKey.rsa("kid-new")

    async def rotate(auth: KeycloakAuth) -> Principal | AuthError:
        await auth.verify(old_token)
        await auth.verify(old_token)  # cached now: a token is remembered from its second sighting
        fake_keycloak.keys = [new_key]
        await auth.verify(mint(user_claims(), new_key))  # unknown kid: one refetch
        return await outcome(auth, old_token)

    result = run(fake_keycloak, {**settings_values, "jwks_cooldown_seconds": 0}, rotate)
    assert isinstance(result, AuthError) and result.reason == "unknown_kid"


def test_an_unknown_kid_within_the_cooldown_fails_at_once_without_a_fetch(fake_keycloak, settings_values) -> None:
    async def unknown(auth: KeycloakAuth) -> Principal | AuthError:
        return await outcome(auth, mint(user_claims(), SigningKey.rsa("kid-unknown")))

    result = run(fake_keycloak, settings_values, unknown)
    assert isinstance(result, AuthError) and result.status_code == 401 and result.reason == "unknown_kid"
    assert fake_keycloak.certs_hits == 1  # the start-up fetch only


def test_an_unknown_kid_after_the_cooldown_causes_one_refetch(fake_keycloak, settings_values) -> None:
    clock = Clock()
    rotated = SigningKey.rsa("kid-rotated")

    async def after_cooldown(auth: KeycloakAuth) -> list[Principal | AuthError]:
        fake_keycloak.keys.append(rotated)
        clock.now += 31
        token = mint(user_claims(), rotated)
        return await asyncio.gather(*(outcome(auth, token) for _ in range(50)))

    results = run(fake_keycloak, settings_values, after_cooldown, clock)
    assert all(isinstance(r, Principal) for r in results)
    assert fake_keycloak.certs_hits == 2


def test_concurrent_callers_share_one_slow_fetch(fake_keycloak, settings_values) -> None:
    rotated = SigningKey.rsa("kid-slow")

    async def slow(auth: KeycloakAuth) -> list[Principal | AuthError]:
        fake_keycloak.keys.append(rotated)
        fake_keycloak.certs_delay = 0.2
        token = mint(user_claims(), rotated)
        return await asyncio.gather(*(outcome(auth, token) for _ in range(100)))

    results = run(fake_keycloak, {**settings_values, "jwks_cooldown_seconds": 0}, slow)
    assert all(isinstance(r, Principal) for r in results)
    assert fake_keycloak.certs_hits == 2


def test_known_keys_keep_serving_while_keycloak_is_down(fake_keycloak, settings_values, signing_key) -> None:
    async def outage(auth: KeycloakAuth) -> list[Principal | AuthError]:
        fake_keycloak.down = True
        return [await outcome(auth, mint(user_claims(), signing_key)) for _ in range(5)]

    assert all(isinstance(r, Principal) for r in run(fake_keycloak, settings_values, outage))


def test_an_unknown_key_while_keycloak_is_down_is_a_503(fake_keycloak, settings_values) -> None:
    async def outage(auth: KeycloakAuth) -> Principal | AuthError:
        fake_keycloak.down = True
        return await outcome(auth, mint(user_claims(), SigningKey.rsa("kid-during-outage")))

    result = run(fake_keycloak, {**settings_values, "jwks_cooldown_seconds": 0}, outage)
    assert isinstance(result, AuthError) and result.status_code == 503 and result.error == "temporarily_unavailable"


def test_an_old_key_set_is_refreshed_in_the_background(fake_keycloak, settings_values, signing_key) -> None:
    clock = Clock()

    async def aged(auth: KeycloakAuth) -> Principal | AuthError:
        clock.now += 601
        result = await outcome(auth, mint(user_claims(exp=int(clock.now) + 60), signing_key))
        await asyncio.sleep(0.01)  # let the background refresh run
        return result

    assert isinstance(run(fake_keycloak, settings_values, aged, clock), Principal)
    assert fake_keycloak.certs_hits == 2


def test_staleness_is_bounded_while_keycloak_stays_down(fake_keycloak, settings_values, signing_key) -> None:
    clock = Clock()

    async def long_outage(auth: KeycloakAuth) -> Principal | AuthError:
        fake_keycloak.down = True
        clock.now += 3601
        return await outcome(auth, mint(user_claims(exp=int(clock.now) + 60), signing_key))

    result = run(fake_keycloak, {**settings_values, "jwks_max_stale_seconds": 3600}, long_outage, clock)
    assert isinstance(result, AuthError) and result.status_code == 503


def test_the_size_limit_is_checked_before_any_decoding(fake_keycloak, settings_values) -> None:
    async def huge(auth: KeycloakAuth) -> Principal | AuthError:
        return await outcome(auth, "e" * 20_000 + "." + "e" * 10 + "." + "e")

    result = run(fake_keycloak, settings_values, huge)
    assert isinstance(result, AuthError) and result.reason == "too_large"


@pytest.mark.parametrize("header", [{"jku": f"{INTERNAL_URL}{CERTS_PATH}"}, {"x5u": f"{INTERNAL_URL}/x.pem"}])
def test_key_urls_in_the_header_cause_no_request(fake_keycloak, settings_values, header) -> None:
    attacker = SigningKey.rsa("attacker")

    async def attack(auth: KeycloakAuth) -> tuple[Principal | AuthError, int]:
        before = len(fake_keycloak.requests)
        result = await outcome(auth, mint(user_claims(), attacker, header=header))
        return result, len(fake_keycloak.requests) - before

    result, requests = run(fake_keycloak, settings_values, attack)
    assert isinstance(result, AuthError) and requests == 0


def test_a_token_verified_before_start_is_a_503(settings_values, signing_key) -> None:
    auth = KeycloakAuth(KeycloakSettings(**settings_values))
    result = asyncio.run(outcome(auth, mint(user_claims(), signing_key)))
    assert isinstance(result, AuthError) and result.status_code == 503 and result.reason == "not_started"


def test_a_non_string_token_is_an_auth_error(fake_keycloak, settings_values) -> None:
    result = run(fake_keycloak, settings_values, lambda auth: outcome(auth, 42))  # type: ignore[arg-type]
    assert isinstance(result, AuthError)


def test_a_flood_of_wrong_audience_tokens_warns_once_a_minute(
    fake_keycloak, settings_values, signing_key, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    clock = Clock()
    foreign = [mint(user_claims(aud="account"), signing_key) for _ in range(5)]

    async def flood(auth: KeycloakAuth) -> None:
        for token in foreign:
            await outcome(auth, token)
        clock.now += 61
        await outcome(auth, mint(user_claims(aud="account", exp=int(clock.now) + 60), signing_key))

    with caplog.at_level(logging.INFO, logger="fastapi_kc"):
        run(fake_keycloak, settings_values, flood, clock)
    refusals = [r for r in caplog.records if "reason=audience" in r.getMessage()]
    assert len(refusals) == 6
    assert [r.levelno for r in refusals].count(logging.WARNING) == 2
