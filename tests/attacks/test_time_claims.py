"""`exp`, `nbf` and `iat` of every wrong JSON type and every absurd value (RFC 7519 §2, §4.1.4-6).

A NumericDate is a finite JSON number of seconds. Tokens are signed by the realm's key with
otherwise valid claims; the one time claim named is the only fault.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.attacks.harness import Target, realm_header, signed_raw
from tests.support.tokens import SigningKey, mint, user_claims

NOW = int(time.time())
WRONG_TYPES: dict[str, Any] = {
    "string-of-digits": str(NOW + 300),
    "string-date": "2099-01-01T00:00:00Z",
    "empty-string": "",
    "true": True,
    "false": False,
    "null": None,
    "list": [NOW + 300],
    "empty-list": [],
    "object": {"seconds": NOW + 300},
}
ABSURD: dict[str, Any] = {
    "negative": -1,
    "huge-negative": -(10**30),
    "year-10000": 253402300800,
    "1e20": 1e20,
    "10^400-integer": 10**400,
    "1e308": 1e308,
}


def cases(values: dict[str, Any]) -> list[Any]:
    """(kind, claim) pairs with readable ids; huge integers and null nbf/iat were library bugs, now fixed."""
    return [pytest.param(kind, name, id=f"{kind}-{name}") for kind in values for name in ("exp", "nbf", "iat")]


def claims_with(name: str, value: Any) -> dict[str, Any]:
    claims = user_claims()
    claims[name] = value  # a None value stays: JSON null is a present claim of the wrong type
    return claims


def test_control_the_realm_signed_token_is_accepted(target: Target, signing_key: SigningKey) -> None:
    target.accepted(mint(user_claims(nbf=NOW - 10), signing_key))


@pytest.mark.parametrize(("kind", "name"), cases(WRONG_TYPES))
def test_a_time_claim_of_the_wrong_type_is_refused(
    target: Target, signing_key: SigningKey, kind: str, name: str
) -> None:
    target.refused(signed_raw(realm_header(signing_key), claims_with(name, WRONG_TYPES[kind]), signing_key))


@pytest.mark.parametrize(("kind", "name"), cases(ABSURD))
def test_a_time_claim_of_an_absurd_value_is_refused(
    target: Target, signing_key: SigningKey, kind: str, name: str
) -> None:
    target.refused(signed_raw(realm_header(signing_key), claims_with(name, ABSURD[kind]), signing_key))


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_a_time_claim_of_a_non_finite_literal_is_refused(
    target: Target, signing_key: SigningKey, literal: str, name: str
) -> None:
    payload = json.dumps(claims_with(name, "__X__"), separators=(",", ":")).replace('"__X__"', literal).encode()
    target.refused(signed_raw(realm_header(signing_key), payload, signing_key))


def test_a_missing_exp_is_refused(target: Target, signing_key: SigningKey) -> None:
    target.refused(mint(user_claims(exp=None), signing_key))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("exp", NOW - 31),
        ("exp", 0),
        ("exp", 1),
        ("nbf", NOW + 3600),
        ("nbf", 253402300799),
        ("iat", NOW + 3600),
        ("iat", 253402300799),
    ],
    ids=["exp-just-past-leeway", "exp-epoch", "exp-1970", "nbf-in-an-hour", "nbf-year-9999", "iat-in-an-hour",
         "iat-year-9999"],
)  # fmt: skip
def test_a_time_outside_the_validity_window_is_refused(
    target: Target, signing_key: SigningKey, name: str, value: int
) -> None:
    target.refused(mint(claims_with(name, value), signing_key))


@pytest.mark.parametrize("offset", [300.5, -20], ids=["fractional-seconds", "expired-within-leeway"])
def test_control_numeric_dates_keycloak_may_send_are_accepted(
    target: Target, signing_key: SigningKey, offset: float
) -> None:
    # Relative to the moment of the test, not of the import: a slow suite must not expire it.
    target.accepted(mint(user_claims(exp=time.time() + offset), signing_key))
