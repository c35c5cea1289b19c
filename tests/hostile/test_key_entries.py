"""JWKS entries that must not be trusted: encryption keys, private material, duplicate kids, odd types.

Beside the realm's good RSA key, the key set carries one hostile entry. The service starts,
trusts only the good key, logs (logger `fastapi_kc`) why the entry was left out, and refuses a
token that names the hostile entry's kid, even when that token is signed by the matching
private key. With the hostile entry alone, start-up fails naming the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from fastapi_kc import AuthError, KeycloakAuth, Principal
from tests.attacks.harness import build_settings
from tests.hostile.servers import start_failure
from tests.support.fake_keycloak import FakeKeycloak
from tests.support.outcomes import outcome
from tests.support.tokens import SigningKey, b64url, mint, user_claims

ROGUE_KID = "kid-rogue"


@pytest.fixture(scope="module")
def rogue() -> SigningKey:
    return SigningKey.rsa(ROGUE_KID)


def _private_members(key: SigningKey) -> dict[str, Any]:
    numbers = key.private.private_numbers()
    return {
        "d": b64url(numbers.d.to_bytes(256, "big")),
        "p": b64url(numbers.p.to_bytes(128, "big")),
        "q": b64url(numbers.q.to_bytes(128, "big")),
    }


ENTRIES: dict[str, tuple[Callable[[SigningKey], Any], str]] = {
    # name: (the hostile entry built from the rogue key, words the log or error must contain)
    "use-enc": (lambda k: k.jwk(use="enc", alg="RSA-OAEP"), "use is 'enc'"),
    "use-enc-keeping-alg-rs256": (lambda k: k.jwk(use="enc"), "use is 'enc'"),
    "use-unknown": (lambda k: k.jwk(use="signature"), "use is 'signature'"),
    "private-rsa-material": (lambda k: {**k.jwk(), **_private_members(k)}, "private or symmetric key material"),
    "symmetric-oct-key": (
        lambda k: {"kid": ROGUE_KID, "kty": "oct", "k": b64url(b"secret" * 6), "alg": "HS256"},
        "private or symmetric key material",
    ),
    "key-ops-without-verify": (lambda k: k.jwk(key_ops=["encrypt"]), "key_ops does not include 'verify'"),
    "key-ops-not-a-list": (lambda k: k.jwk(key_ops="verify"), "key_ops does not include 'verify'"),
    "unknown-kty": (lambda k: {**k.jwk(), "kty": "RSA2"}, "no allowed algorithm uses it"),
    "missing-kty": (lambda k: {m: v for m, v in k.jwk().items() if m != "kty"}, "kty"),
    "kty-as-list": (lambda k: {**k.jwk(), "kty": ["RSA"]}, "kty"),
    "alg-not-allowed": (lambda k: k.jwk(alg="PS512"), "no allowed algorithm uses it"),
    "alg-as-list": (lambda k: k.jwk(alg=["RS256"]), "alg"),
    "alg-as-object": (lambda k: k.jwk(alg={"name": "RS256"}), "alg"),
    "kid-not-a-string": (lambda k: {**k.jwk(), "kid": 7}, "no kid"),
    "n-not-base64url": (lambda k: {**k.jwk(), "n": "!!!not base64!!!"}, "base64"),
    "n-a-number": (lambda k: {**k.jwk(), "n": 12345}, "invalid RSA key"),
    "e-missing": (lambda k: {m: v for m, v in k.jwk().items() if m != "e"}, "invalid RSA key"),
    "rsa-1024-bits": (lambda k: SigningKey.rsa(ROGUE_KID, bits=1024).jwk(), "smaller than 2048 bits"),
    "ec-point-not-on-curve": (
        lambda k: {"kid": ROGUE_KID, "kty": "EC", "crv": "P-256", "alg": "ES256", "x": b64url(bytes(32)),
                   "y": b64url(bytes(31) + b"\x01"), "use": "sig"},
        "",
    ),
    "not-an-object": (lambda k: "kid-rogue", "not a JSON object"),
    "null": (lambda k: None, "not a JSON object"),
}  # fmt: skip


def run(fake: FakeKeycloak, body: Callable[[KeycloakAuth], Any], **overrides: Any) -> Any:
    async def main() -> Any:
        async with fake.client() as client, KeycloakAuth(build_settings(**overrides), http_client=client) as auth:
            return await body(auth)

    return asyncio.run(main())


def params() -> list[Any]:
    # alg as a list or an object once raised TypeError here (fixed); every entry now gets the same checks.
    return [pytest.param(name, id=name) for name in ENTRIES]


@pytest.mark.parametrize("name", params())
def test_beside_a_good_key_the_entry_is_skipped_logged_and_its_kid_refused(
    signing_key: SigningKey, rogue: SigningKey, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    build, words = ENTRIES[name]
    fake = FakeKeycloak(keys=[signing_key], jwks_extra=[build(rogue)])

    async def body(auth: KeycloakAuth) -> tuple[Principal | AuthError, Principal | AuthError]:
        return await outcome(auth, mint(user_claims(), signing_key)), await outcome(auth, mint(user_claims(), rogue))

    with caplog.at_level(logging.INFO, logger="fastapi_kc"):
        good, bad = run(fake, body)
    assert isinstance(good, Principal), "the realm's good key still works"
    assert isinstance(bad, AuthError)
    assert bad.status_code == 401
    log = "\n".join(r.getMessage() for r in caplog.records if r.name == "fastapi_kc")
    assert "key set entry not used for verification" in log
    assert words in log


@pytest.mark.parametrize("name", params())
def test_alone_the_entry_fails_start_up_naming_why(rogue: SigningKey, name: str) -> None:
    build, words = ENTRIES[name]
    fake = FakeKeycloak(keys=[], jwks_extra=[build(rogue)])
    message = str(start_failure(fake))
    assert "publishes no signing key usable" in message
    assert words in message


def test_a_kid_published_twice_is_trusted_for_neither_key(signing_key: SigningKey, caplog: Any) -> None:
    twin = SigningKey.rsa(signing_key.kid)  # an attacker's key slipped in under the realm's kid
    other = SigningKey.rsa("kid-rsa-2")
    fake = FakeKeycloak(keys=[signing_key, twin, other])

    async def body(auth: KeycloakAuth) -> list[Principal | AuthError]:
        return [await outcome(auth, mint(user_claims(), key)) for key in (signing_key, twin, other)]

    with caplog.at_level(logging.INFO, logger="fastapi_kc"):
        realm, forged, unrelated = run(fake, body)
    assert isinstance(realm, AuthError)
    assert isinstance(forged, AuthError)
    assert isinstance(unrelated, Principal)
    assert f"{signing_key.kid}: kid published twice" in caplog.text


def test_only_duplicate_kids_fail_start_up_naming_them(signing_key: SigningKey) -> None:
    fake = FakeKeycloak(keys=[signing_key, SigningKey.rsa(signing_key.kid)])
    assert f"{signing_key.kid}: kid published twice" in str(start_failure(fake))


def test_a_thousand_junk_entries_beside_the_good_key_cost_one_fetch(signing_key: SigningKey) -> None:
    junk = [{"kid": f"junk-{n}", "kty": "junk"} for n in range(1000)]
    fake = FakeKeycloak(keys=[signing_key], jwks_extra=junk)

    async def body(auth: KeycloakAuth) -> Principal | AuthError:
        return await outcome(auth, mint(user_claims(), signing_key))

    assert isinstance(run(fake, body), Principal)
    assert fake.certs_hits == 1
