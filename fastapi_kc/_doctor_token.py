"""Every verification step of one access token, shown as report checks. Pure; the clock is passed in.

The steps are those of `TokenVerifier`, in its order, each run on its own so that one failure
does not hide the next: size and form (`_jws.parse_compact`), key and signature
(`_jws.verify_signature`), then each claim rule of `_claims`. Claims are read even when the
signature fails, to say what else is wrong, and are then marked as unverified. The token and its
signature are never part of the report: only its size, its header and selected claims.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi_kc import _claims
from fastapi_kc import _diagnostics as diagnose
from fastapi_kc._doctor_report import Check, Status
from fastapi_kc._errors import InvalidTokenError
from fastapi_kc._jws import CompactToken, b64url_decode, decode_json_object, parse_compact, verify_signature
from fastapi_kc._keys import KeySet
from fastapi_kc._principal import Principal
from fastapi_kc._settings import KeycloakSettings
from fastapi_kc._text import printable


def check_token(
    token: str, settings: KeycloakSettings, keys: KeySet | None, *, now: float, prefix: str = "token"
) -> list[Check]:
    """The checks of `token` against `settings`; `keys` is None when the key set could not be read."""
    token = token.strip().removeprefix("Bearer ").strip()
    checks: list[Check] = []
    parsed, form = _check_form(token, settings, prefix)
    checks.append(form)
    claims = _payload(token)
    if parsed is None or keys is None:
        because = "the token's form is invalid" if parsed is None else "the realm's key set could not be read"
        checks.append(Check.skipped(f"{prefix}.signature", because))
    else:
        checks.append(_check_signature(parsed, settings, keys, prefix))
    if claims is None:
        checks.append(Check.skipped(f"{prefix}.claims", "the payload is not a base64url JSON object"))
        return checks
    unverified = any(check.status is not Status.PASS for check in checks)
    rules: list[tuple[str, Callable[[], object], str]] = [
        ("exp", lambda: _claims.check_times(claims, now=now, leeway=settings.leeway_seconds), _times(claims, now)),
        ("iss", lambda: _claims.check_issuer(claims, settings.issuer), f"iss {_show(claims.get('iss'))}"),
        ("aud", lambda: _claims.check_audience(claims, frozenset(settings.audience)), _audience(claims)),
        ("typ", lambda: _claims.check_token_type(claims), f"typ {_show(claims.get('typ'))}"),
        ("cnf", lambda: _claims.check_not_sender_constrained(claims), "no cnf: a plain bearer token"),
        ("sub", lambda: _claims.check_subject(claims), f"sub {_show(claims.get('sub'))}"),
    ]
    for name, rule, evidence in rules:
        try:
            rule()
        except InvalidTokenError as exc:
            diagnosis = diagnose.token_refused(settings, exc.reason, exc.description, claims)
            checks.append(Check.failed(f"{prefix}.{name}", diagnosis))
        else:
            summary = f"{name} accepted" + (" (but the token is not verified)" if unverified else "")
            checks.append(Check.passed(f"{prefix}.{name}", summary, evidence))
    checks.append(_caller(claims, prefix))
    return checks


def _check_form(token: str, settings: KeycloakSettings, prefix: str) -> tuple[CompactToken | None, Check]:
    check_id = f"{prefix}.form"
    if len(token) > settings.max_token_bytes:
        refusal = InvalidTokenError("token is too large", reason="too_large")
        return None, Check.failed(check_id, diagnose.token_refused(settings, refusal.reason, refusal.description, {}))
    header = _header(token)
    shown = ", ".join(f"{name} {_show(header.get(name))}" for name in ("alg", "kid", "typ")) if header else "none"
    try:
        parsed = parse_compact(token, allowed_algorithms=frozenset(settings.algorithms))
    except InvalidTokenError as exc:
        diagnosis = diagnose.token_refused(settings, exc.reason, exc.description, {})
        evidence = f"{len(token)} bytes; header: {shown}; {diagnosis.evidence}"
        return None, Check(check_id, Status.FAIL, diagnosis.problem, evidence, diagnosis.fix)
    return parsed, Check.passed(check_id, "a compact JWS with an allowed algorithm", f"{len(token)} bytes; {shown}")


def _check_signature(parsed: CompactToken, settings: KeycloakSettings, keys: KeySet, prefix: str) -> Check:
    check_id = f"{prefix}.signature"
    key = keys.get(parsed.kid)
    if key is None:
        known = keys.describe() + "".join(f"; not usable: {reason}" for reason in keys.skipped)
        return Check.failed(check_id, diagnose.unknown_kid(settings, parsed.kid, known))
    try:
        verify_signature(key, parsed)
    except InvalidTokenError as exc:
        return Check.failed(check_id, diagnose.token_refused(settings, exc.reason, exc.description, {}))
    return Check.passed(check_id, "signature verified", f"with the realm's key {key.kid} ({parsed.alg})")


def _caller(claims: dict[str, Any], prefix: str) -> Check:
    try:
        principal = Principal.from_claims(claims)
    except (TypeError, ValueError):
        return Check(f"{prefix}.caller", Status.INFO, "no caller: the token has no usable sub")
    if principal.is_service_account:
        who = f"service account of client {_show(principal.client_id)}"
    else:
        who = f"user {_show(principal.username)} (sub {_show(principal.subject)}) via client "
        who += _show(principal.authorized_party)
    client_roles = "; ".join(
        f"{printable(client)}: {_names(roles)}" for client, roles in principal.client_roles.items()
    )
    evidence = f"realm roles: {_names(principal.realm_roles) or 'none'}; client roles: {client_roles or 'none'}"
    return Check(f"{prefix}.caller", Status.INFO, who, evidence)


def _header(token: str) -> dict[str, Any] | None:
    try:
        return decode_json_object(b64url_decode(token.split(".")[0]), "header")
    except InvalidTokenError:
        return None


def _payload(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        return decode_json_object(b64url_decode(parts[1]), "payload")
    except InvalidTokenError:
        return None


def _show(value: object) -> str:
    """A claim for the report: quoted, escaped and bounded (claims come from whoever sent the token)."""
    return printable(value, 120, quoted=True)


def _names(names: frozenset[str]) -> str:
    """Role names, each escaped and bounded: a role is a claim too."""
    return ", ".join(printable(name) for name in sorted(names))


def _audience(claims: dict[str, Any]) -> str:
    return f"aud {_show(claims.get('aud'))}, azp {_show(claims.get('azp'))}"


def _times(claims: dict[str, Any], now: float) -> str:
    parts = []
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            parts.append(f"{name} {_when(value)} ({_relative(value - now)})")
    return ", ".join(parts) or "no time claims"


def _when(value: float) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))
    except (OverflowError, OSError, ValueError):
        return repr(value)


def _relative(delta: float) -> str:
    span = abs(delta)
    text = f"{span:.0f} s" if span < 120 else f"{span / 60:.0f} min" if span < 7200 else f"{span / 3600:.1f} h"
    return f"in {text}" if delta >= 0 else f"{text} ago"
