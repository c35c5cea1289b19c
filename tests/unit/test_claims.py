"""The claim rules of an access token, with the clock passed in."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastapi_kc import InvalidTokenError, _claims
from fastapi_kc._claims import check_access_token
from tests.support.tokens import AUDIENCE, ISSUER, user_claims

NOW = 1_800_000_000.0
LEEWAY = 30.0


def check(**overrides: Any) -> float:
    claims = user_claims(**{"exp": int(NOW) + 300, "iat": int(NOW), **overrides})
    return check_access_token(claims, issuer=ISSUER, audiences=frozenset({AUDIENCE}), now=NOW, leeway=LEEWAY)


def refused(reason: str, **overrides: Any) -> None:
    with pytest.raises(InvalidTokenError) as info:
        check(**overrides)
    assert info.value.reason == reason


def test_a_keycloak_access_token_for_this_api_passes_and_gives_its_expiry() -> None:
    assert check() == NOW + 300


def test_exp_is_required() -> None:
    refused("exp_missing", exp=None)


@pytest.mark.parametrize("value", ["tomorrow", True, [1], {"t": 1}, float("nan"), float("inf"), -1, 10**20, 1e400])
def test_exp_must_be_a_plausible_number_of_seconds(value: object) -> None:
    refused("exp_invalid", exp=value)


def test_an_expired_token_is_refused() -> None:
    refused("expired", exp=int(NOW - LEEWAY - 1))


def test_expiry_within_the_leeway_is_tolerated() -> None:
    assert check(exp=int(NOW - LEEWAY + 1))


def test_a_token_not_valid_yet_is_refused() -> None:
    refused("not_yet_valid", nbf=int(NOW + LEEWAY + 5))


def test_nbf_within_the_leeway_is_tolerated() -> None:
    assert check(nbf=int(NOW + LEEWAY - 1))


def test_a_token_issued_in_the_future_is_refused() -> None:
    refused("issued_in_future", iat=int(NOW + LEEWAY + 5))


@pytest.mark.parametrize("value", ["soon", False, [NOW]])
def test_nbf_and_iat_of_the_wrong_type_are_refused(value: object) -> None:
    refused("nbf_invalid", nbf=value)


@pytest.mark.parametrize(
    "issuer",
    [f"{ISSUER}/", ISSUER.replace("https", "http"), ISSUER.upper(), ISSUER.removesuffix("/demo"),
     ISSUER.replace("demo", "other"), f"{ISSUER}x", [ISSUER], None],
)  # fmt: skip
def test_the_issuer_must_match_exactly(issuer: object) -> None:
    refused("issuer", iss=issuer)


@pytest.mark.parametrize(
    "aud", ["account", "ap", "API", "api-other", ["account"], [["api"]], {"api": True}, [AUDIENCE, 1], None, []]
)
def test_the_audience_must_contain_this_api(aud: object) -> None:
    refused("audience", aud=aud)


@pytest.mark.parametrize("aud", [AUDIENCE, [AUDIENCE], ["account", AUDIENCE]])
def test_the_audience_may_be_a_string_or_a_list(aud: object) -> None:
    assert check(aud=aud)


@pytest.mark.parametrize("typ", ["ID", "Refresh", "Offline", "Logout", "bearer", None, ["Bearer"]])
def test_only_keycloak_access_tokens_are_accepted(typ: object) -> None:
    refused("token_type", typ=typ)


@pytest.mark.parametrize("cnf", [{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, {"x5t#S256": "abc"}])
def test_sender_constrained_tokens_are_not_bearer_tokens(cnf: dict[str, str]) -> None:
    refused("bound_token", cnf=cnf)


@pytest.mark.parametrize("sub", [None, "", 42])
def test_a_subject_is_required(sub: object) -> None:
    refused("subject", sub=sub)


def rules_one_by_one(claims: dict[str, Any]) -> float:
    """The rules in their order, as the specification of `check_access_token`'s verdict."""
    expires = _claims.check_times(claims, now=NOW, leeway=LEEWAY)
    _claims.check_issuer(claims, ISSUER)
    _claims.check_audience(claims, frozenset({AUDIENCE}))
    _claims.check_token_type(claims)
    _claims.check_not_sender_constrained(claims)
    _claims.check_subject(claims)
    return expires


def verdict(check: Any, claims: dict[str, Any]) -> object:
    try:
        return check(claims)
    except InvalidTokenError as exc:
        return exc.reason


_ODD_TIMES = [
    None,
    True,
    False,
    "1800000000",
    -1,
    0,
    10**20,
    [int(NOW)],
    1.5e9,
    float("nan"),
    float("inf"),
    int(NOW) - 31,
    int(NOW) - 29,
    int(NOW) + 29,
    int(NOW) + 31,
    NOW + 29.5,
    NOW + 30.5,
]
_ABSENT = object()  # the claim left out
_VALUES: dict[str, list[object]] = {
    "exp": [*_ODD_TIMES, _ABSENT],
    "iat": [*_ODD_TIMES, _ABSENT],
    "nbf": _ODD_TIMES,
    "iss": [ISSUER, f"{ISSUER}/", None, [ISSUER], _ABSENT],
    "aud": [AUDIENCE, [AUDIENCE], ["account", AUDIENCE], ["account"], [AUDIENCE, 1], [AUDIENCE, {"a": 1}],
            [[AUDIENCE]], {AUDIENCE: 1}, "account", None, [], (AUDIENCE,), _ABSENT],
    "typ": ["Bearer", "ID", "bearer", None, _ABSENT],
    "cnf": [{"jkt": "x"}, None, {}],
    "sub": ["0b5c6e1a-user", "", 42, None, _ABSENT],
}  # fmt: skip


def claims_with(**values: object) -> dict[str, Any]:
    claims = user_claims(**{"exp": int(NOW) + 300, "iat": int(NOW)})
    for name, value in values.items():
        claims.pop(name, None)
        if value is not _ABSENT:
            claims[name] = value
    return claims


def quick(claims: dict[str, Any]) -> float:
    return check_access_token(claims, issuer=ISSUER, audiences=frozenset({AUDIENCE}), now=NOW, leeway=LEEWAY)


@pytest.mark.parametrize(("name", "value"), [(name, value) for name, values in _VALUES.items() for value in values])
def test_the_quick_pass_gives_the_verdict_of_the_rules_for_each_odd_claim(name: str, value: object) -> None:
    claims = claims_with(**{name: value})
    assert verdict(quick, claims) == verdict(rules_one_by_one, claims)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({name: st.sampled_from(values) for name, values in _VALUES.items()}))
def test_the_quick_pass_gives_the_verdict_of_the_rules_for_any_mix(values: dict[str, object]) -> None:
    claims = claims_with(**values)
    assert verdict(quick, claims) == verdict(rules_one_by_one, claims)
