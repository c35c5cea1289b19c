"""The compact form, parsed strictly; signatures checked directly."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from fastapi_kc import InvalidTokenError
from fastapi_kc._jws import b64url_decode, decode_json_object, parse_compact, verify_signature
from fastapi_kc._keys import VerificationKey, key_set_from_jwks
from tests.support.tokens import SigningKey, b64url, encode_segments, mint, user_claims

RS256 = frozenset({"RS256"})


def test_a_well_formed_token_is_split_into_its_parts(signing_key: SigningKey) -> None:
    token = mint(user_claims(), signing_key)
    parsed = parse_compact(token, allowed_algorithms=RS256)
    assert (parsed.alg, parsed.kid) == ("RS256", "kid-rsa-1")
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()


@pytest.mark.parametrize("token", ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e", "..", "a..c", "a.b.", ".b.c"])
def test_anything_but_three_non_empty_segments_is_refused(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        parse_compact(token, allowed_algorithms=RS256)


def test_json_serialization_is_refused(signing_key: SigningKey) -> None:
    token = mint(user_claims(), signing_key)
    head, body, sig = token.split(".")
    general = json.dumps({"payload": body, "protected": head, "signature": sig})
    with pytest.raises(InvalidTokenError):
        parse_compact(general, allowed_algorithms=RS256)


@pytest.mark.parametrize("segment", ["ab=", "a b", "a+b", "a/b", "ab\n", "é", "QQ==", "QQ=", "QUFB    ", "QU FB"])
def test_base64url_with_padding_whitespace_or_other_alphabets_is_refused(segment: str) -> None:
    with pytest.raises(InvalidTokenError):
        b64url_decode(segment)
    with pytest.raises(InvalidTokenError):
        b64url_decode(segment.encode("utf-8"))  # the same segment as bytes (a token's own slices)


def test_a_segment_decodes_the_same_as_text_or_as_bytes(signing_key: SigningKey) -> None:
    for segment in mint(user_claims(), signing_key).split("."):
        assert (
            b64url_decode(segment.encode("ascii"))
            == b64url_decode(segment)
            == base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        )


def test_non_canonical_base64url_is_refused() -> None:
    # "QR" and "QQ" decode to the same byte; only "QQ" leaves the unused bits zero.
    assert b64url_decode("QQ") == b"A"
    with pytest.raises(InvalidTokenError, match="canonical"):
        b64url_decode("QR")


@pytest.mark.parametrize(
    "data", [b"\xff\xfe", b"not json", b"[]", b"null", b'"s"', b'{"a": NaN}', b'{"a": Infinity}', b"[" * 100_000]
)
def test_only_utf8_json_objects_are_decoded(data: bytes) -> None:
    with pytest.raises(InvalidTokenError):
        decode_json_object(data, "payload")


@pytest.mark.parametrize(
    "data", [b'{"a": 1}', b' {"a": 1}', b'{"a": 1}\n', b'\t{"a": [1, {"b": null}], "c": "\\u00e9"}\r\n']
)
def test_a_json_object_decodes_with_or_without_whitespace_around_it(data: bytes) -> None:
    assert decode_json_object(data, "payload") == json.loads(data)


@pytest.mark.parametrize("data", [b'{"a": 1} x', b'{"a": 1}{}', b'{"a": 1}]', b'{"a": 1', b"", b" ", b'{"a": 1} 2'])
def test_anything_after_the_object_or_a_truncated_object_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidTokenError, match="not valid JSON"):
        decode_json_object(data, "payload")


def test_absurd_numbers_decode_without_crashing() -> None:
    assert decode_json_object(b'{"exp": 1e400}', "payload") == {"exp": float("inf")}


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "ES256", "", None, 256])
def test_an_algorithm_outside_the_allow_list_is_refused(alg: object) -> None:
    token = encode_segments({"alg": alg, "kid": "k"}, user_claims()) + ".c2ln"
    with pytest.raises(InvalidTokenError, match="algorithm"):
        parse_compact(token, allowed_algorithms=RS256)


@pytest.mark.parametrize("crit", [["exp"], [], "exp", None, {"a": 1}])
def test_any_crit_header_is_refused(crit: object) -> None:
    token = encode_segments({"alg": "RS256", "kid": "k", "crit": crit}, user_claims()) + ".c2ln"
    with pytest.raises(InvalidTokenError, match="critical"):
        parse_compact(token, allowed_algorithms=RS256)


@pytest.mark.parametrize("kid", [None, "", 1, ["k"], {"k": 1}, "k" * 257])
def test_kid_must_be_a_short_string(kid: object) -> None:
    token = encode_segments({"alg": "RS256", "kid": kid}, user_claims()) + ".c2ln"
    with pytest.raises(InvalidTokenError, match="kid"):
        parse_compact(token, allowed_algorithms=RS256)


def test_non_ascii_tokens_are_refused() -> None:
    with pytest.raises(InvalidTokenError):
        parse_compact("é.b.c", allowed_algorithms=RS256)


def _key_for(key: SigningKey, algorithms: set[str]) -> VerificationKey:
    verification_key = key_set_from_jwks({"keys": [key.jwk()]}, algorithms).get(key.kid)
    assert verification_key is not None
    return verification_key


@pytest.mark.parametrize(
    "make", [lambda: SigningKey.rsa("k", "RS256"), lambda: SigningKey.rsa("k", "PS256"),
             lambda: SigningKey.rsa("k", "RS512"), lambda: SigningKey.ec("k", "ES256"),
             lambda: SigningKey.ec("k", "ES384"), lambda: SigningKey.ec("k", "ES512"),
             lambda: SigningKey.ed25519("k")],
    ids=["RS256", "PS256", "RS512", "ES256", "ES384", "ES512", "EdDSA"],
)  # fmt: skip
def test_each_supported_algorithm_verifies_its_own_signature(make: Callable[[], SigningKey]) -> None:
    key = make()
    verification_key = _key_for(key, {key.alg})
    parsed = parse_compact(mint(user_claims(), key), allowed_algorithms=frozenset({key.alg}))
    verify_signature(verification_key, parsed)


def test_a_signature_by_another_key_is_refused(signing_key: SigningKey) -> None:
    impostor = SigningKey.rsa(signing_key.kid)
    parsed = parse_compact(mint(user_claims(), impostor), allowed_algorithms=RS256)
    with pytest.raises(InvalidTokenError, match="signature"):
        verify_signature(_key_for(signing_key, {"RS256"}), parsed)


def test_a_tampered_payload_is_refused(signing_key: SigningKey) -> None:
    head, _, sig = mint(user_claims(), signing_key).split(".")
    forged = b64url(json.dumps(user_claims(realm_access={"roles": ["admin"]})).encode())
    parsed = parse_compact(f"{head}.{forged}.{sig}", allowed_algorithms=RS256)
    with pytest.raises(InvalidTokenError, match="signature"):
        verify_signature(_key_for(signing_key, {"RS256"}), parsed)


def test_a_key_is_never_used_for_an_algorithm_of_another_type(signing_key: SigningKey) -> None:
    ec_key = SigningKey.ec(signing_key.kid)
    parsed = parse_compact(mint(user_claims(), ec_key), allowed_algorithms=frozenset({"RS256", "ES256"}))
    with pytest.raises(InvalidTokenError, match="algorithm"):
        verify_signature(_key_for(signing_key, {"RS256", "ES256"}), parsed)


@pytest.mark.parametrize("signature", [b"\x00" * 64, b"\xff" * 64, b"\x00" * 63, b"\x01" * 65])
def test_ecdsa_zero_out_of_range_and_wrongly_sized_signatures_are_refused(signature: bytes) -> None:
    key = SigningKey.ec("k")
    head_body = mint(user_claims(), key).rsplit(".", 1)[0]
    token = f"{head_body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    parsed = parse_compact(token, allowed_algorithms=frozenset({"ES256"}))
    with pytest.raises(InvalidTokenError, match="signature"):
        verify_signature(_key_for(key, {"ES256"}), parsed)
