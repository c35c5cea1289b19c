"""Duplicate member names in the header and in the claims (RFC 7515 §5.2, RFC 7519 §4).

A JWS parser MUST either refuse duplicates or use the lexically last one, and then every check
and every reader must see that same value. A verifier that checks one occurrence while the
application reads another is how parser-differential attacks work. Tokens are signed by the
realm's key over exactly these bytes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fastapi_kc import Principal
from tests.attacks.harness import Target, realm_header, signed_raw
from tests.support.tokens import AUDIENCE, ISSUER, SigningKey, mint, user_claims


def with_duplicate(base: dict[str, Any], name: str, first: Any, last: Any) -> bytes:
    """`base` as JSON with `name` written twice: `first`, then `last`."""
    rest = {k: v for k, v in base.items() if k != name}
    body = json.dumps(rest, separators=(",", ":"))[1:-1]
    return f"{{{json.dumps(name)}:{json.dumps(first)},{body},{json.dumps(name)}:{json.dumps(last)}}}".encode()


GOOD_AND_BAD: dict[str, tuple[Any, Any]] = {
    "iss": (ISSUER, "https://attacker.example/realms/demo"),
    "aud": ([AUDIENCE], ["account"]),
    "exp": (4102444800, 1),
    "typ": ("Bearer", "ID"),
    "sub": ("0b5c6e1a-user-mario", ""),
}


def test_control_a_single_occurrence_is_accepted(target: Target, signing_key: SigningKey) -> None:
    target.accepted(mint(user_claims(), signing_key))


@pytest.mark.parametrize("name", list(GOOD_AND_BAD))
def test_a_bad_last_duplicate_claim_is_refused(target: Target, signing_key: SigningKey, name: str) -> None:
    good, bad = GOOD_AND_BAD[name]
    payload = with_duplicate(user_claims(), name, good, bad)
    target.refused(signed_raw(realm_header(signing_key), payload, signing_key))


@pytest.mark.parametrize("name", list(GOOD_AND_BAD))
def test_a_bad_first_duplicate_claim_is_refused_or_never_seen(
    target: Target, signing_key: SigningKey, name: str
) -> None:
    good, bad = GOOD_AND_BAD[name]
    result = target.outcome(
        signed_raw(realm_header(signing_key), with_duplicate(user_claims(), name, bad, good), signing_key)
    )
    if isinstance(result, Principal):
        assert result.claims[name] == (tuple(good) if isinstance(good, list) else good)  # claims are frozen


def test_the_principal_shows_the_roles_that_were_checked(target: Target, signing_key: SigningKey) -> None:
    # Duplicate realm_access: what the role check sees is what the application sees.
    payload = with_duplicate(user_claims(), "realm_access", {"roles": ["admin"]}, {"roles": ["customer"]})
    token = signed_raw(realm_header(signing_key), payload, signing_key)
    result = target.outcome(token)
    if isinstance(result, Principal):
        assert result.realm_roles == {"customer"}
        assert target.status_of("/admin", token) == 403
        assert target.status_of("/admin", token, app="middleware") == 403
    else:
        target.refused(token)


@pytest.mark.parametrize(
    ("first", "last"), [("RS256", "none"), ("RS256", "HS256"), ("RS256", "ES256")], ids=["none", "HS256", "ES256"]
)
def test_a_duplicate_alg_whose_last_value_is_not_rs256_is_refused(
    target: Target, signing_key: SigningKey, first: str, last: str
) -> None:
    header = f'{{"alg":"{first}","typ":"JWT","kid":"{signing_key.kid}","alg":"{last}"}}'.encode()
    target.refused(signed_raw(header, user_claims(), signing_key))


def test_a_duplicate_kid_whose_last_value_is_unknown_is_refused(target: Target, signing_key: SigningKey) -> None:
    header = f'{{"alg":"RS256","kid":"{signing_key.kid}","typ":"JWT","kid":"kid-unknown"}}'.encode()
    target.refused(signed_raw(header, user_claims(), signing_key))
