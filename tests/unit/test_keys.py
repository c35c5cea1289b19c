"""Which keys of a JWKS are trusted, and for which algorithms."""

from __future__ import annotations

from typing import Any

import pytest

from fastapi_kc._keys import key_set_from_jwks
from tests.support.tokens import SigningKey

RS256 = {"RS256"}


def test_public_signing_keys_are_trusted_by_kid(signing_key: SigningKey) -> None:
    keys = key_set_from_jwks({"keys": [signing_key.jwk()]}, RS256)
    key = keys.get("kid-rsa-1")
    assert key is not None and key.algorithms == {"RS256"}


def test_a_key_without_use_is_a_signing_key(signing_key: SigningKey) -> None:
    assert len(key_set_from_jwks({"keys": [signing_key.jwk(use=None)]}, RS256)) == 1


@pytest.mark.parametrize(
    ("extra", "reason"),
    [({"use": "enc"}, "use"), ({"d": "AQAB"}, "private"), ({"key_ops": ["encrypt"]}, "key_ops"),
     ({"alg": "RSA-OAEP"}, "no allowed algorithm"), ({"kid": None}, "no kid"), ({"kid": 7}, "no kid")],
)  # fmt: skip
def test_keys_not_fit_for_verifying_signatures_are_skipped_with_a_reason(
    signing_key: SigningKey, extra: dict[str, Any], reason: str
) -> None:
    keys = key_set_from_jwks({"keys": [signing_key.jwk(**extra)]}, RS256)
    assert len(keys) == 0
    assert reason in keys.skipped[0]


def test_a_key_type_no_allowed_algorithm_uses_is_skipped() -> None:
    keys = key_set_from_jwks({"keys": [SigningKey.ec("ec-1").jwk()]}, RS256)
    assert keys.get("ec-1") is None and "no allowed algorithm" in keys.skipped[0]


@pytest.mark.parametrize(
    "entry", [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}, {"kty": "XYZ", "kid": "odd"}, "a string",
              {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"}, {"kty": "RSA", "kid": "no-n", "e": "AQAB"}],
)  # fmt: skip
def test_unknown_symmetric_and_broken_keys_are_skipped(entry: Any) -> None:
    keys = key_set_from_jwks({"keys": [entry]}, RS256)
    assert len(keys) == 0 and len(keys.skipped) == 1


def test_an_rsa_key_shorter_than_2048_bits_is_skipped() -> None:
    keys = key_set_from_jwks({"keys": [SigningKey.rsa("weak", bits=1024).jwk()]}, RS256)
    assert len(keys) == 0 and "2048" in keys.skipped[0]


def test_a_kid_published_twice_is_not_trusted_at_all() -> None:
    first, second = SigningKey.rsa("same"), SigningKey.rsa("same")
    keys = key_set_from_jwks({"keys": [first.jwk(), second.jwk()]}, RS256)
    assert keys.get("same") is None and "twice" in keys.skipped[0]


def test_a_key_declared_for_one_algorithm_is_used_for_that_one_only(signing_key: SigningKey) -> None:
    keys = key_set_from_jwks({"keys": [signing_key.jwk(alg="PS256")]}, {"RS256", "PS256"})
    key = keys.get(signing_key.kid)
    assert key is not None and key.algorithms == {"PS256"}


@pytest.mark.parametrize("document", [[], {}, {"keys": {}}, {"keys": "x"}, None])
def test_a_document_that_is_not_a_jwks_is_an_error(document: Any) -> None:
    with pytest.raises(ValueError, match="JWKS"):
        key_set_from_jwks(document, RS256)


def test_unchanged_keys_keep_their_identity_across_fetches(signing_key: SigningKey) -> None:
    first = key_set_from_jwks({"keys": [signing_key.jwk()]}, RS256)
    again = key_set_from_jwks({"keys": [signing_key.jwk()]}, RS256, previous=first)
    assert again.get(signing_key.kid) is first.get(signing_key.kid)


def test_a_changed_key_under_the_same_kid_is_a_new_key(signing_key: SigningKey) -> None:
    first = key_set_from_jwks({"keys": [signing_key.jwk()]}, RS256)
    replaced = key_set_from_jwks({"keys": [SigningKey.rsa(signing_key.kid).jwk()]}, RS256, previous=first)
    assert replaced.get(signing_key.kid) is not first.get(signing_key.kid)
