"""A key server that turns hostile while the service runs: it stays up on the keys it knows.

After a good start, Keycloak's key set endpoint starts answering HTML, a huge body, a redirect,
a trickle, or a key set with hostile entries. Tokens of known keys keep working without any
request; a token of an unknown key is refused (503 while the keys cannot be fetched, 401 once
the set is known not to hold it); refetches are bounded by the cooldown; the log names the
problem. Time is a hand-moved clock, so cooldowns are crossed without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from fastapi_kc import AuthError, KeycloakAuth, Principal
from fastapi_kc._http import MAX_DOCUMENT_BYTES
from tests.attacks.harness import build_settings
from tests.hostile.servers import CountingStream, certs
from tests.support.clock import Clock
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.outcomes import outcome
from tests.support.tokens import SigningKey, mint, user_claims

T = TypeVar("T")
COOLDOWN = 30.0


def run(fake: FakeKeycloak, clock: Clock, body: Callable[[KeycloakAuth], Awaitable[T]], **overrides: Any) -> T:
    async def main() -> T:
        settings = build_settings(jwks_cooldown_seconds=COOLDOWN, **overrides)
        async with fake.client() as client, KeycloakAuth(settings, http_client=client, clock=clock) as auth:
            return await body(auth)

    return asyncio.run(main())


HOSTILE: dict[str, tuple[Callable[[], httpx.Response], str]] = {
    "html": (
        lambda: httpx.Response(200, content=b"<html>login</html>", headers={"Content-Type": "text/html"}),
        "not a JSON document",
    ),
    "invalid-json": (lambda: httpx.Response(200, content=b'{"keys": ['), "not a JSON document"),
    "not-a-jwks": (lambda: httpx.Response(200, json={"keys": None}), "not a JWKS document"),
    "50-MB": (lambda: httpx.Response(200, stream=CountingStream(50 * 1024 * 1024)), "larger than"),
    "redirect": (
        lambda: httpx.Response(302, headers={"Location": "https://attacker.example/certs"}),
        "redirects (redirects are not followed)",
    ),
    "server-error": (lambda: httpx.Response(500, text="boom"), "Keycloak failed to serve the key set"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_known_keys_keep_serving_and_unknown_ones_are_refused(
    signing_key: SigningKey, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    answer, words = HOSTILE[name]
    fake, clock = FakeKeycloak(keys=[signing_key]), Clock()
    newcomer = SigningKey.rsa("kid-new")

    async def body(auth: KeycloakAuth) -> dict[str, Any]:
        fake.override = certs(answer)
        clock.now += COOLDOWN + 1
        mark = fake.certs_hits
        results: dict[str, Any] = {"known": await outcome(auth, mint(user_claims(), signing_key))}
        results["known_requests"] = fake.certs_hits - mark
        results["unknown"] = [await outcome(auth, mint(user_claims(), newcomer)) for _ in range(50)]
        results["unknown_requests"] = fake.certs_hits - mark
        return results

    with caplog.at_level(logging.INFO, logger="fastapi_kc"):
        results = run(fake, clock, body)
    assert isinstance(results["known"], Principal)
    assert results["known_requests"] == 0
    assert all(isinstance(r, AuthError) for r in results["unknown"])
    assert {r.status_code for r in results["unknown"]} == {503}
    assert results["unknown_requests"] == 1, "one refetch per cooldown, however many tokens ask"
    warnings = [r.getMessage() for r in caplog.records if r.name == "fastapi_kc" and r.levelno == logging.WARNING]
    assert any("key set fetch failed; known keys keep serving" in w and words in w for w in warnings), warnings


def test_a_trickling_refetch_does_not_hold_up_tokens_of_known_keys(signing_key: SigningKey) -> None:
    fake, clock = FakeKeycloak(keys=[signing_key]), Clock()
    stream = CountingStream(None, chunk=1, delay=0.01)

    async def body(auth: KeycloakAuth) -> tuple[bool, Principal | AuthError, Principal | AuthError]:
        fake.override = certs(lambda: httpx.Response(200, stream=stream))
        clock.now += COOLDOWN + 1
        waiting = asyncio.ensure_future(outcome(auth, mint(user_claims(), SigningKey.rsa("kid-new"))))
        await asyncio.sleep(0.05)  # the refetch is now trickling
        known = await outcome(auth, mint(user_claims(), signing_key))
        still_trickling = not waiting.done()
        return still_trickling, known, await waiting

    still_trickling, known, unknown = run(fake, clock, body, http_timeout_seconds=0.5)
    assert still_trickling, "the known key was served while the refetch was still in flight"
    assert isinstance(known, Principal)
    assert isinstance(unknown, AuthError)
    assert unknown.status_code == 503
    assert stream.closed
    assert stream.pulled < MAX_DOCUMENT_BYTES


def test_after_recovery_a_rotated_key_is_learnt(signing_key: SigningKey) -> None:
    fake, clock = FakeKeycloak(keys=[signing_key]), Clock()
    newcomer = SigningKey.rsa("kid-new")

    async def body(auth: KeycloakAuth) -> tuple[Principal | AuthError, Principal | AuthError]:
        fake.override = certs(HOSTILE["html"][0])
        clock.now += COOLDOWN + 1
        during = await outcome(auth, mint(user_claims(), newcomer))
        fake.override = None
        fake.keys = [signing_key, newcomer]
        clock.now += COOLDOWN + 1
        return during, await outcome(auth, mint(user_claims(), newcomer))

    during, after = run(fake, clock, body)
    assert isinstance(during, AuthError)
    assert isinstance(after, Principal)


ROTATION_ENTRIES: dict[str, Any] = {
    "use-enc": {"kid": "kid-enc", "kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
    "oct": {"kid": "kid-oct", "kty": "oct", "k": "c2VjcmV0"},
    "unknown-kty": {"kid": "kid-x", "kty": "XYZ"},
    "another-key-under-the-attackers-kid": None,  # filled in below: a key the attacker does not hold
    "alg-as-list": {"kid": "kid-list", "kty": "RSA", "alg": ["RS256"], "n": "AQAB", "e": "AQAB"},
}


@pytest.mark.parametrize("name", list(ROTATION_ENTRIES))
def test_a_rotation_with_a_hostile_entry_learns_only_the_good_key(signing_key: SigningKey, name: str) -> None:
    fake, clock = FakeKeycloak(keys=[signing_key]), Clock()
    newcomer, other = SigningKey.rsa("kid-new"), SigningKey.rsa("kid-other")
    entry = ROTATION_ENTRIES[name] or SigningKey.rsa("kid-other").jwk()

    async def body(auth: KeycloakAuth) -> tuple[Principal | AuthError, Principal | AuthError]:
        fake.keys = [signing_key, newcomer]
        fake.jwks_extra = [entry]
        clock.now += COOLDOWN + 1
        return await outcome(auth, mint(user_claims(), newcomer)), await outcome(auth, mint(user_claims(), other))

    new, hostile = run(fake, clock, body)
    assert isinstance(new, Principal)
    assert isinstance(hostile, AuthError)
    assert hostile.status_code == 401


def test_an_unknown_kid_flood_delays_a_rotated_key_by_at_most_the_cooldown(signing_key: SigningKey) -> None:
    # The price of the refetch cooldown (field notes §5), pinned so that it stays bounded: a
    # forged unknown kid just before a rotation uses up the refetch; the rotated key's tokens are
    # refused (401, never 5xx) until the cooldown has passed, then accepted.
    fake, clock = FakeKeycloak(keys=[signing_key]), Clock()
    newcomer = SigningKey.rsa("kid-new")

    async def body(auth: KeycloakAuth) -> list[Principal | AuthError]:
        clock.now += COOLDOWN + 1
        results = [await outcome(auth, mint(user_claims(), SigningKey.rsa("kid-forged")))]
        fake.keys = [signing_key, newcomer]
        clock.now += 1
        results.append(await outcome(auth, mint(user_claims(), newcomer)))
        clock.now += COOLDOWN
        results.append(await outcome(auth, mint(user_claims(), newcomer)))
        return results

    forged, during_cooldown, after_cooldown = run(fake, clock, body)
    assert isinstance(forged, AuthError)
    assert isinstance(during_cooldown, AuthError)
    assert (during_cooldown.status_code, during_cooldown.reason) == (401, "unknown_kid")
    assert isinstance(after_cooldown, Principal)
    assert fake.certs_hits == 3  # start-up, the forged kid, the rotated kid after the cooldown
