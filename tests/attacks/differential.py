"""A second opinion on every token the attack catalogue and the fuzzers judge: joserfc's.

fastapi_kc parses and checks JWS by hand (`_jws`, `_claims`) for speed. joserfc is a maintained
JOSE library doing the same job its own way: `jwt.decode` (form, header, key by `kid`,
algorithm allow-list, signature) then `JWTClaimsRegistry.validate` (times, issuer, audience and
the other essential claims). `Target.outcome` gives every token it judges to both, with the same
key set (what the fake realm publishes), algorithms, issuer, audience set, leeway, size limit
and the same instant, and requires the same verdict: accepted or refused.

Configured like fastapi_kc, joserfc requires `sub` and `typ: Bearer` too, and ignores header
members it does not know (RFC 7515 §4; its default refuses them). Where fastapi_kc is stricter on
purpose, its refusal is allowed only under a reason code listed in `INTENDED`, and only when a
check written here, with the standard library alone, confirms that the token has the property
the reason names. Any other disagreement, and any token fastapi_kc accepts while joserfc refuses,
fails the test that produced it.
"""

from __future__ import annotations

import base64
import binascii
import json
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from fastapi_kc import AuthError, KeycloakSettings, Principal

_LATEST_DATE = 253402300799  # 9999-12-31T23:59:59Z


def _segment_bytes(token: Any, index: int) -> bytes | None:
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    segment = token.split(".")[index]
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (ValueError, binascii.Error):
        return None


def _lenient_json(token: Any, index: int) -> Any:
    """A segment as joserfc reads it: `json.loads` on bytes (any UTF, BOM, NaN allowed)."""
    raw = _segment_bytes(token, index)
    try:
        return None if raw is None else json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _not_strict_json(token: Any, settings: KeycloakSettings) -> bool:
    """Header or payload is JSON only leniently: not UTF-8, a byte order mark, NaN or Infinity.

    RFC 7515 §2/§7.1 and RFC 7519 §7.2: the segments are UTF-8; RFC 8259 §8.1: no BOM, and §6:
    NaN and Infinity are not JSON numbers.
    """
    for index in (0, 1):
        raw = _segment_bytes(token, index)
        if raw is None or _lenient_json(token, index) is None:
            continue
        try:
            if raw.startswith(b"\xef\xbb\xbf"):
                return True
            json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return True
    return False


def _out_of_range_date(name: str) -> Callable[[Any, KeycloakSettings], bool]:
    def applies(token: Any, settings: KeycloakSettings) -> bool:
        payload = _lenient_json(token, 1)
        value = payload.get(name) if isinstance(payload, dict) else None
        return not isinstance(value, bool) and isinstance(value, int | float) and not 0 <= value <= _LATEST_DATE

    return applies


def _header_has(predicate: Callable[[dict[str, Any]], bool]) -> Callable[[Any, KeycloakSettings], bool]:
    def applies(token: Any, settings: KeycloakSettings) -> bool:
        header = _lenient_json(token, 0)
        return isinstance(header, dict) and predicate(header)

    return applies


def _typ_is_a_list_holding_bearer(token: Any, settings: KeycloakSettings) -> bool:
    payload = _lenient_json(token, 1)
    typ = payload.get("typ") if isinstance(payload, dict) else None
    return isinstance(typ, list) and "Bearer" in typ


def _too_large(token: Any, settings: KeycloakSettings) -> bool:
    return isinstance(token, str) and len(token) > settings.max_token_bytes


def _has_cnf(token: Any, settings: KeycloakSettings) -> bool:
    payload = _lenient_json(token, 1)
    return isinstance(payload, dict) and "cnf" in payload


@dataclass(frozen=True)
class Intended:
    """A refusal of fastapi_kc that joserfc does not share: why, and how to recognise it."""

    why: str
    applies: Callable[[Any, KeycloakSettings], bool]


_DATES = (
    "fastapi_kc refuses a NumericDate before 1970 or after 9999-12-31 as not a date; joserfc accepts any "
    "finite number (an `iat` of -1, an `exp` of 1e300)."
)

#: fastapi_kc's reason code -> the intended difference it stands for.
INTENDED: dict[str, Intended] = {
    "too_large": Intended(
        "fastapi_kc refuses a token longer than `max_token_bytes` before decoding anything, a bound on the "
        "work an anonymous request can cause; joserfc, given the same limit per part, would read more.",
        _too_large,
    ),
    "bound_token": Intended(
        "A token with `cnf` is bound to a key (DPoP, mTLS: RFC 9449 §7.1, RFC 8705 §3) and is not a bearer "
        "token; joserfc's claims registry does not know `cnf`.",
        _has_cnf,
    ),
    "crit": Intended(
        "fastapi_kc understands no JWS extension, so it refuses any `crit` (RFC 7515 §4.1.11); joserfc "
        "accepts an empty `crit` or one naming registered parameters such as `kid`.",
        _header_has(lambda header: "crit" in header),
    ),
    "kid": Intended(
        "fastapi_kc picks the key by `kid` only (Keycloak always sets one); without a usable `kid`, joserfc "
        "falls back to the one key of the right type in the set.",
        _header_has(lambda header: not isinstance(header.get("kid"), str) or not header["kid"]),
    ),
    "malformed": Intended(
        "fastapi_kc reads the segments as strict JSON in UTF-8 (RFC 7515 §7.1, RFC 8259 §8.1); joserfc's "
        "`json.loads` on bytes also reads UTF-16 and UTF-32, skips a byte order mark, and takes NaN and "
        "Infinity as numbers.",
        _not_strict_json,
    ),
    "token_type": Intended(
        "Keycloak's `typ` claim is a string and fastapi_kc requires it to be exactly \"Bearer\"; joserfc's "
        "registry lets any list-valued claim match when one element is the expected value, so "
        '`typ: ["Bearer"]` passes there (found by the claim fuzzer).',
        _typ_is_a_list_holding_bearer,
    ),
    "exp_invalid": Intended(_DATES, _out_of_range_date("exp")),
    "nbf_invalid": Intended(_DATES, _out_of_range_date("nbf")),
    "iat_invalid": Intended(_DATES, _out_of_range_date("iat")),
}


@dataclass
class Differential:
    """Judges tokens with joserfc, compares with fastapi_kc's verdicts, and counts."""

    settings: KeycloakSettings
    jwks: Callable[[], dict[str, Any]]
    compared: int = 0
    agreed: Counter[str] = field(default_factory=Counter)
    intended: Counter[str] = field(default_factory=Counter)
    _keys: KeySet | None = field(default=None, repr=False)
    _fingerprint: str = field(default="", repr=False)

    def joserfc_verdict(self, token: Any, now: float) -> tuple[str, str]:
        """("accepted" or "refused", joserfc's error).

        `now` is the instant fastapi_kc's clock was held at (`Target.judged_at`).
        """
        registry = JWSRegistry(algorithms=list(self.settings.algorithms), strict_check_header=False)
        # fastapi_kc bounds the token as a whole (`max_token_bytes`); joserfc's own per-part limits
        # (512 bytes of header) are set to that bound so that they never refuse first.
        limit = self.settings.max_token_bytes
        registry.max_header_length = registry.max_payload_length = registry.max_signature_length = limit
        claims = jwt.JWTClaimsRegistry(
            now=int(now),
            leeway=int(self.settings.leeway_seconds),
            iss={"essential": True, "value": self.settings.issuer},
            aud={"essential": True, "values": list(self.settings.audience)},
            exp={"essential": True},
            sub={"essential": True},
            typ={"essential": True, "value": "Bearer"},
        )
        try:
            keys = self._key_set()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SecurityWarning)  # "EdDSA is deprecated", where tests allow it
                decoded = jwt.decode(token, keys, algorithms=list(self.settings.algorithms), registry=registry)
            claims.validate(decoded.claims)
        except (JoseError, ValueError, TypeError, KeyError, RecursionError) as exc:
            return "refused", f"{type(exc).__name__}: {exc}"
        return "accepted", ""

    def _key_set(self) -> KeySet:
        """The realm's current JWKS as a joserfc KeySet, imported again only when it changes."""
        document = self.jwks()
        fingerprint = json.dumps(document, sort_keys=True)
        if fingerprint != self._fingerprint:
            self._keys, self._fingerprint = KeySet.import_key_set(document), fingerprint  # type: ignore[arg-type]
        assert self._keys is not None
        return self._keys

    def compare(self, token: Any, ours: Principal | AuthError, now: float) -> None:
        """Raises AssertionError when the verdicts differ other than as `INTENDED` allows."""
        theirs, why = self.joserfc_verdict(token, now)
        verdict = "accepted" if isinstance(ours, Principal) else "refused"
        self.compared += 1
        if verdict == theirs:
            self.agreed[verdict] += 1
            return
        reason = ours.reason if isinstance(ours, AuthError) else ""
        intended = INTENDED.get(reason)
        if intended is not None and intended.applies(token, self.settings):
            self.intended[reason] += 1
            return
        shown = token if not isinstance(token, str) or len(token) < 400 else f"{token[:400]}..."
        raise AssertionError(
            f"fastapi_kc {verdict} ({ours!r}) but joserfc {theirs} ({why}); header {_lenient_json(token, 0)!r:.300}, "
            f"payload {_lenient_json(token, 1)!r:.300}, token {shown!r}"
        )


#: Tokens compared in the session, by test module, and intended differences met, by reason:
#: printed at the end of the session (tests/conftest.py).
COMPARED: Counter[str] = Counter()
INTENDED_SEEN: Counter[str] = Counter()
