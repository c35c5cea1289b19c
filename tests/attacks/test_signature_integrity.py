"""Stripped, borrowed and damaged signatures; tampered payloads and headers; a foreign key under a known kid."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.attacks.harness import Target, realm_header, signed_raw
from tests.support.tokens import SigningKey, b64url, mint, user_claims


def test_control_the_realm_signed_token_is_accepted(target: Target, signing_key: SigningKey) -> None:
    target.accepted(mint(user_claims(), signing_key))


def _signature(token: str) -> bytes:
    import base64

    segment = token.split(".")[2]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


STRIPPED: dict[str, Callable[[str], str]] = {
    "empty-signature": lambda t: t.rsplit(".", 1)[0] + ".",
    "no-signature-segment": lambda t: t.rsplit(".", 1)[0],
    "signature-one-byte-short": lambda t: t.rsplit(".", 1)[0] + "." + b64url(_signature(t)[:-1]),
    "signature-one-byte-long": lambda t: t.rsplit(".", 1)[0] + "." + b64url(_signature(t) + b"\x00"),
    "signature-last-bit-flipped": lambda t: (
        t.rsplit(".", 1)[0] + "." + b64url(_signature(t)[:-1] + bytes([_signature(t)[-1] ^ 1]))
    ),
    "signature-zeroed": lambda t: t.rsplit(".", 1)[0] + "." + b64url(bytes(len(_signature(t)))),
    "signature-doubled": lambda t: t.rsplit(".", 1)[0] + "." + b64url(_signature(t) * 2),
}


@pytest.mark.parametrize("damage", list(STRIPPED))
def test_a_stripped_or_damaged_signature_is_refused(target: Target, signing_key: SigningKey, damage: str) -> None:
    target.refused(STRIPPED[damage](mint(user_claims(), signing_key)))


def test_the_signature_of_another_realm_token_is_refused(target: Target, signing_key: SigningKey) -> None:
    other = mint(user_claims(sub="someone-else"), signing_key)
    head, body, _ = mint(user_claims(), signing_key).split(".")
    target.refused(f"{head}.{body}.{other.split('.')[2]}")


TAMPERED = {
    "realm-role-added": {"realm_access": {"roles": ["customer", "admin"]}},
    "subject-swapped": {"sub": "0b5c6e1a-user-luigi"},
    "expiry-extended": {"exp": 4102444800},
    "audience-changed": {"aud": ["billing"]},
    "client-role-added": {"resource_access": {"api": {"roles": ["orders:read", "orders:write"]}}},
}


@pytest.mark.parametrize("change", list(TAMPERED))
def test_a_tampered_payload_under_the_original_signature_is_refused(
    target: Target, signing_key: SigningKey, change: str
) -> None:
    claims = user_claims()
    head, _, sig = mint(claims, signing_key).split(".")
    body = b64url(json.dumps({**claims, **TAMPERED[change]}, separators=(",", ":")).encode())
    target.refused(f"{head}.{body}.{sig}")


def test_the_same_claims_re_serialised_are_refused(target: Target, signing_key: SigningKey) -> None:
    # Semantically identical JSON, different bytes: the signature covers bytes, not meaning.
    claims = user_claims()
    head, _, sig = mint(claims, signing_key).split(".")
    target.refused(f"{head}.{b64url(json.dumps(claims, indent=1).encode())}.{sig}")


def test_a_payload_with_one_bit_flipped_is_refused(target: Target, signing_key: SigningKey) -> None:
    head, body, sig = mint(user_claims(), signing_key).split(".")
    flipped = "B" if body[10] == "A" else "A"
    target.refused(f"{head}.{body[:10]}{flipped}{body[11:]}.{sig}")


@pytest.mark.parametrize(
    "header",
    [{"typ": "at+jwt"}, {"cty": "JWT"}, {"extra": 1}, {"typ": None}],
    ids=["typ-changed", "cty-added", "member-added", "typ-removed"],
)
def test_a_tampered_header_under_the_original_signature_is_refused(
    target: Target, signing_key: SigningKey, header: dict[str, object]
) -> None:
    claims = user_claims()
    _, body, sig = mint(claims, signing_key).split(".")
    head = b64url(json.dumps(realm_header(signing_key, **header), separators=(",", ":")).encode())
    target.refused(f"{head}.{body}.{sig}")


@pytest.mark.parametrize("bits", [2048, 3072])
def test_a_foreign_rsa_key_reusing_the_realm_kid_is_refused(target: Target, signing_key: SigningKey, bits: int) -> None:
    foreign = SigningKey.rsa(signing_key.kid, bits=bits)
    target.refused(mint(user_claims(), foreign))


def test_a_foreign_key_under_the_realm_kid_is_not_learnt_by_a_refetch(target: Target, signing_key: SigningKey) -> None:
    # The realm's key set is fetched again at most once; the kid still maps to the realm key.
    foreign = SigningKey.rsa(signing_key.kid)
    mark = target.fake.certs_hits
    for _ in range(20):
        target.refused(mint(user_claims(), foreign))
    assert target.fake.certs_hits - mark == 0
    target.accepted(mint(user_claims(), signing_key))


def test_the_realm_signature_over_an_id_token_does_not_open_the_api(target: Target, signing_key: SigningKey) -> None:
    # Same key, same issuer, genuine signature: but Keycloak's ID tokens are not access tokens.
    target.refused(mint(user_claims(typ="ID", aud="web"), signing_key))


def test_a_genuine_signature_under_reordered_header_members_is_refused(target: Target, signing_key: SigningKey) -> None:
    claims = user_claims()
    _, body, sig = mint(claims, signing_key).split(".")
    head = b64url(json.dumps({"kid": signing_key.kid, "typ": "JWT", "alg": "RS256"}, separators=(",", ":")).encode())
    target.refused(f"{head}.{body}.{sig}")


def test_control_raw_signing_helpers_produce_accepted_tokens(target: Target, signing_key: SigningKey) -> None:
    target.accepted(signed_raw(realm_header(signing_key), user_claims(), signing_key))
