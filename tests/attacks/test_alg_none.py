"""`alg: none` in every spelling (RFC 8725 §2.1, §3.1; CVE-2015-9235 and its many siblings).

Each forged token carries the realm's real `kid` and Keycloak-shaped claims, so the algorithm
is the only thing wrong with it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.attacks.harness import Target, realm_header, signed_raw, with_signature
from tests.support.tokens import SigningKey, b64url, encode_segments, mint, user_claims

SPELLINGS: list[Any] = ["none", "None", "NONE", "nOnE", "none ", " none", "none\x00", "", "null"]
NON_STRINGS: list[Any] = [None, 0, False, [], ["none"], ["RS256"], {"alg": "RS256"}]


def test_control_the_realm_signed_token_is_accepted(target: Target, signing_key: SigningKey) -> None:
    target.accepted(mint(user_claims(), signing_key))


@pytest.mark.parametrize("alg", SPELLINGS, ids=repr)
def test_unsigned_with_empty_signature_is_refused(target: Target, signing_key: SigningKey, alg: str) -> None:
    target.refused(encode_segments(realm_header(signing_key, alg=alg), user_claims()) + ".")


@pytest.mark.parametrize("alg", SPELLINGS, ids=repr)
def test_unsigned_with_no_signature_segment_is_refused(target: Target, signing_key: SigningKey, alg: str) -> None:
    target.refused(encode_segments(realm_header(signing_key, alg=alg), user_claims()))


@pytest.mark.parametrize("alg", SPELLINGS, ids=repr)
def test_none_keeping_a_real_rs256_signature_is_refused(target: Target, signing_key: SigningKey, alg: str) -> None:
    # The signature is genuine for these bytes; only the header claims that none is needed.
    target.refused(signed_raw(realm_header(signing_key, alg=alg), user_claims(), signing_key))


@pytest.mark.parametrize("alg", SPELLINGS, ids=repr)
def test_none_with_a_junk_signature_is_refused(target: Target, signing_key: SigningKey, alg: str) -> None:
    target.refused(with_signature(realm_header(signing_key, alg=alg), user_claims(), b"\x00"))


@pytest.mark.parametrize("alg", NON_STRINGS, ids=repr)
def test_alg_of_another_json_type_is_refused(target: Target, signing_key: SigningKey, alg: Any) -> None:
    header = {"typ": "JWT", "kid": signing_key.kid, "alg": alg}
    target.refused(signed_raw(header, user_claims(), signing_key))


def test_alg_missing_is_refused(target: Target, signing_key: SigningKey) -> None:
    target.refused(signed_raw({"typ": "JWT", "kid": signing_key.kid}, user_claims(), signing_key))


def test_a_real_token_with_its_signature_removed_is_refused(target: Target, signing_key: SigningKey) -> None:
    head, body, _ = mint(user_claims(), signing_key).split(".")
    target.refused(f"{head}.{body}.")


def test_a_real_payload_under_a_none_header_is_refused(target: Target, signing_key: SigningKey) -> None:
    _, body, _ = mint(user_claims(), signing_key).split(".")
    head = b64url(b'{"alg":"none","typ":"JWT"}')
    target.refused(f"{head}.{body}.")
