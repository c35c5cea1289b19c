"""An allowed algorithm pointed at a key of another type (RFC 8725 §3.1: each key, one algorithm).

The realm publishes an RSA, an EC P-256 and an Ed25519 key, and every one of their algorithms
is allowed. A token names an algorithm of one type and the `kid` of a key of another; it is
signed with the realm's own key of the algorithm's type, so the only fault is the pairing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.attacks.harness import Target, realm_header, signed_raw
from tests.support.tokens import SigningKey, mint, user_claims

ALGORITHMS = ["RS256", "RS384", "PS256", "ES256", "ES384", "EdDSA"]


@pytest.fixture(scope="module")
def keys(signing_key: SigningKey, ec_key: SigningKey) -> dict[str, SigningKey]:
    return {"RSA": signing_key, "EC": ec_key, "OKP": SigningKey.ed25519("kid-ed-1")}


@pytest.fixture(scope="module")
def wide(keys: dict[str, SigningKey]) -> Iterator[Target]:
    started = Target(keys.values(), algorithms=ALGORITHMS)
    yield started
    started.close()


def kty_of(alg: str) -> str:
    return {"R": "RSA", "P": "RSA", "E": "EC"}[alg[0]] if alg != "EdDSA" else "OKP"


@pytest.mark.parametrize("kty", ["RSA", "EC", "OKP"])
def test_control_each_realm_key_verifies_its_own_algorithm(wide: Target, keys: dict[str, SigningKey], kty: str) -> None:
    wide.accepted(mint(user_claims(), keys[kty]))


CROSSED = [(alg, kty) for alg in ["RS256", "ES256", "EdDSA"] for kty in ["RSA", "EC", "OKP"] if kty_of(alg) != kty]


@pytest.mark.parametrize(("alg", "kty"), CROSSED, ids=[f"{alg}-signature-on-{kty}-kid" for alg, kty in CROSSED])
def test_a_signature_of_one_type_under_the_kid_of_another_is_refused(
    wide: Target, keys: dict[str, SigningKey], alg: str, kty: str
) -> None:
    signer = keys[kty_of(alg)]
    wide.refused(signed_raw(realm_header(signer, kid=keys[kty].kid, alg=alg), user_claims(), signer))


@pytest.mark.parametrize(("alg", "kty"), CROSSED, ids=[f"{alg}-header-on-{kty}-key-signature" for alg, kty in CROSSED])
def test_a_genuine_signature_relabelled_with_an_algorithm_of_another_type_is_refused(
    wide: Target, keys: dict[str, SigningKey], alg: str, kty: str
) -> None:
    # The key and its signature belong together; only `alg` says otherwise.
    signer = keys[kty]
    wide.refused(signed_raw(realm_header(signer, alg=alg), user_claims(), signer))


def test_a_key_published_for_rs256_does_not_verify_rs384(wide: Target, signing_key: SigningKey) -> None:
    # RSA key, RS384 allowed, signature genuine: the JWK's own `alg` (RS256) forbids it.
    rs384 = SigningKey(signing_key.kid, signing_key.private, "RS384")
    wide.refused(mint(user_claims(), rs384))


def test_a_key_published_for_rs256_does_not_verify_ps256(wide: Target, signing_key: SigningKey) -> None:
    ps256 = SigningKey(signing_key.kid, signing_key.private, "PS256")
    wide.refused(mint(user_claims(), ps256))


def test_a_p256_key_does_not_verify_es384(wide: Target, ec_key: SigningKey) -> None:
    # ES384 is allowed, but only with a P-384 key (RFC 7518 §3.4).
    header = realm_header(ec_key, alg="ES384")
    wide.refused(signed_raw(header, user_claims(), ec_key))


def test_an_algorithm_outside_the_allow_list_is_refused_even_with_a_genuine_signature(
    target: Target, signing_key: SigningKey
) -> None:
    # The default target allows RS256 only.
    target.refused(mint(user_claims(), SigningKey(signing_key.kid, signing_key.private, "PS256")))
