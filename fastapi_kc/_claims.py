"""The claim rules of an access token for this API, with the clock passed in.

RFC 9068 §4 and RFC 7519 §4.1 say what a resource server MUST check; Keycloak adds its own
`typ` claim, which is what tells an access token from an ID, refresh or logout token signed
by the same key. Every rule raises `InvalidTokenError` with a reason code.
"""

from __future__ import annotations

import math
from typing import Any, Final

from fastapi_kc._errors import InvalidTokenError

ACCESS_TOKEN_TYPE: Final = "Bearer"  # noqa: S105 - a token type, not a secret
_LATEST_DATE: Final = 253402300799  # 9999-12-31T23:59:59Z: anything later is not a date


def numeric_date(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    """A NumericDate claim (RFC 7519 §2): a finite number of seconds, not a boolean."""
    if name not in claims:
        if required:
            raise InvalidTokenError(f"token has no {name} claim", reason=f"{name}_missing")
        return None
    value = claims[name]
    # JSON null, booleans, strings... are not NumericDates. Integers are compared as integers:
    # a huge one would overflow a float conversion.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTokenError(f"token {name} claim is not a number of seconds", reason=f"{name}_invalid")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidTokenError(f"token {name} claim is not a number of seconds", reason=f"{name}_invalid")
    if not 0 <= value <= _LATEST_DATE:
        raise InvalidTokenError(f"token {name} claim is out of range", reason=f"{name}_invalid")
    return float(value)


def json_number(value: object) -> float | None:
    """A JSON number as a float, or None: for reading a time already checked (or only shown).

    Not `numeric_date`, which refuses: this is for claims of a verified token, a revocation
    read back from the store, a report. A boolean is no number (JSON `true` is not 1), and an
    integer too large for a float gives None rather than an OverflowError.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def check_times(claims: dict[str, Any], *, now: float, leeway: float) -> float:
    """`exp` required and in the future, `nbf` and `iat` not in the future; returns `exp`.

    `leeway` tolerates clock skew between Keycloak and this host (RFC 7519 §4.1.4 "MAY provide
    for some small leeway").
    """
    exp = claims.get("exp")
    # Keycloak writes whole seconds: the common case skips the general NumericDate parse.
    if type(exp) is not int or not 0 <= exp <= _LATEST_DATE:
        exp = numeric_date(claims, "exp", required=True) or 0.0
    if now > exp + leeway:
        raise InvalidTokenError("token has expired", reason="expired")
    if "nbf" in claims:
        nbf = numeric_date(claims, "nbf", required=False)
        if nbf is not None and now + leeway < nbf:
            raise InvalidTokenError("token is not valid yet", reason="not_yet_valid")
    iat = claims.get("iat")
    if type(iat) is not int or not 0 <= iat <= _LATEST_DATE:
        iat = numeric_date(claims, "iat", required=False)  # also refuses a present but null iat
    if iat is not None and now + leeway < iat:
        raise InvalidTokenError("token was issued in the future", reason="issued_in_future")
    return float(exp)


def check_issuer(claims: dict[str, Any], issuer: str) -> None:
    """`iss` must be exactly the realm's public issuer (RFC 9068 §4: MUST match exactly)."""
    if claims.get("iss") != issuer:
        raise InvalidTokenError("token issuer (iss) is not the configured Keycloak realm", reason="issuer")


def check_audience(claims: dict[str, Any], audiences: frozenset[str]) -> None:
    """`aud` must contain one of this API's audiences (RFC 9068 §4; field notes §2)."""
    aud = claims.get("aud")
    if isinstance(aud, str) and aud in audiences:
        return
    if isinstance(aud, list) and _all_strings(aud) and not audiences.isdisjoint(aud):
        return
    raise InvalidTokenError("token audience (aud) does not include this API", reason="audience")


def check_token_type(claims: dict[str, Any]) -> None:
    """Keycloak marks access tokens `typ: Bearer`; ID, Refresh, Offline and Logout tokens differ."""
    if claims.get("typ") != ACCESS_TOKEN_TYPE:
        raise InvalidTokenError("token is not an access token", reason="token_type")


def check_not_sender_constrained(claims: dict[str, Any]) -> None:
    """A token bound to a key (DPoP `cnf.jkt`, mTLS `cnf.x5t#S256`) is not a bearer token.

    RFC 9449 §7.1 and RFC 8705 §3: presenting it without the proof must fail; this API checks no
    proofs, so such tokens are refused rather than accepted as plain bearer tokens.
    """
    if "cnf" in claims:
        raise InvalidTokenError("token is bound to a key (cnf) and needs proof of possession", reason="bound_token")


def check_subject(claims: dict[str, Any]) -> str:
    """`sub` identifies the caller; Keycloak sets it through the `basic` client scope."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidTokenError("token has no subject (sub)", reason="subject")
    return sub


def check_access_token(
    claims: dict[str, Any], *, issuer: str, audiences: frozenset[str], now: float, leeway: float
) -> float:
    """Every rule an access token for this API must pass; returns its `exp`.

    Runs for every new token, so the shape Keycloak writes (integer times, no `nbf`, `aud` a
    string or a list of strings) is first checked in one pass; anything else, and every token
    that fails, goes through the rules one by one, which alone decide what is wrong. The
    quick pass only ever accepts what the rules accept (`tests/unit/test_claims.py` holds
    both to the same verdict).
    """
    exp = claims.get("exp")
    iat = claims.get("iat")
    aud = claims.get("aud")
    sub = claims.get("sub")
    if (
        type(exp) is int
        and 0 <= exp <= _LATEST_DATE
        and now <= exp + leeway
        and (type(iat) is int and 0 <= iat <= _LATEST_DATE and iat <= now + leeway)
        and "nbf" not in claims
        and claims.get("iss") == issuer
        and (
            aud in audiences
            if type(aud) is str
            else type(aud) is list and _all_strings(aud) and not audiences.isdisjoint(aud)
        )
        and claims.get("typ") == ACCESS_TOKEN_TYPE
        and "cnf" not in claims
        and type(sub) is str
        and sub
    ):
        return float(exp)
    expires = check_times(claims, now=now, leeway=leeway)
    check_issuer(claims, issuer)
    check_audience(claims, audiences)
    check_token_type(claims)
    check_not_sender_constrained(claims)
    check_subject(claims)
    return expires


def _all_strings(items: list[Any]) -> bool:
    """Whether every entry is a string (then `isdisjoint` cannot meet an unhashable one)."""
    for item in items:  # noqa: SIM110 - a plain loop: all() over a generator costs more for 2-3 items
        if not isinstance(item, str):
            return False
    return True
