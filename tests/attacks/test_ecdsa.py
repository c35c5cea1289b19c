"""ECDSA signatures that are zero, out of range or mis-encoded (CVE-2022-21449 "psychic signatures").

ES256 is allowed and the realm publishes a P-256 key; every token below carries its `kid` and
claims that would otherwise be accepted.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.attacks.harness import Target, realm_header, with_signature
from tests.support.tokens import SigningKey, encode_segments, mint, user_claims

N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # order of P-256
MAX = 2**256 - 1


def raw(r: int, s: int, size: int = 32) -> bytes:
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def genuine(key: SigningKey, signing_input: str) -> tuple[int, int]:
    return decode_dss_signature(key.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))


def test_control_the_realm_signed_es256_token_is_accepted(mixed_target: Target, ec_key: SigningKey) -> None:
    mixed_target.accepted(mint(user_claims(), ec_key))


def test_control_a_genuine_r_s_reassembled_here_is_accepted(mixed_target: Target, ec_key: SigningKey) -> None:
    # The tests below alter what this one builds; it must verify untouched.
    header, claims = realm_header(ec_key), user_claims()
    r, s = genuine(ec_key, encode_segments(header, claims))
    mixed_target.accepted(with_signature(header, claims, raw(r, s)))


FIXED = {
    "all-zero": raw(0, 0),
    "r=s=1": raw(1, 1),
    "r=s=n": raw(N, N),
    "r=s=n+1": raw(N + 1, N + 1),
    "r=s=2^256-1": raw(MAX, MAX),
    "r=1,s=n-1": raw(1, N - 1),
    "all-0xff": b"\xff" * 64,
}


@pytest.mark.parametrize("name", list(FIXED))
def test_a_degenerate_signature_is_refused(mixed_target: Target, ec_key: SigningKey, name: str) -> None:
    mixed_target.refused(with_signature(realm_header(ec_key), user_claims(), FIXED[name]))


PAIRED = {
    "r=0-with-genuine-s": lambda r, s: raw(0, s),
    "s=0-with-genuine-r": lambda r, s: raw(r, 0),
    "r=n-with-genuine-s": lambda r, s: raw(N, s),
    "s=n-with-genuine-r": lambda r, s: raw(r, N),
    "r-and-s-swapped": lambda r, s: raw(s, r),
    "r=r+1": lambda r, s: raw((r + 1) % N or 1, s),
    "63-bytes": lambda r, s: raw(r, s)[:-1],
    "65-bytes": lambda r, s: raw(r, s) + b"\x00",
    "left-padded-to-66": lambda r, s: raw(r, s, 33),
}


@pytest.mark.parametrize("name", list(PAIRED))
def test_a_signature_built_from_a_genuine_one_is_refused(mixed_target: Target, ec_key: SigningKey, name: str) -> None:
    header, claims = realm_header(ec_key), user_claims()
    signing_input = encode_segments(header, claims)
    r, s = genuine(ec_key, signing_input)
    mixed_target.refused(with_signature(header, claims, PAIRED[name](r, s)))


def test_a_genuine_asn1_der_signature_is_refused(mixed_target: Target, ec_key: SigningKey) -> None:
    # What OpenSSL, Java and Go produce natively; JWS wants fixed-size r || s (RFC 7518 §3.4).
    header, claims = realm_header(ec_key), user_claims()
    der = ec_key.private.sign(encode_segments(header, claims).encode(), ec.ECDSA(hashes.SHA256()))
    mixed_target.refused(with_signature(header, claims, der))


def test_an_attackers_p256_signature_under_the_realm_kid_is_refused(mixed_target: Target, ec_key: SigningKey) -> None:
    foreign = SigningKey.ec(ec_key.kid, "ES256")
    mixed_target.refused(mint(user_claims(), foreign))
