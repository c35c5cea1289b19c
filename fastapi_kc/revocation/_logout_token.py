"""Logout tokens, validated as OpenID Connect Back-Channel Logout 1.0 §2.6 requires.

The logout route is public (Keycloak calls it without a bearer token), so everything it
accepts rests on this check: the realm's signature (the same key cache as access tokens),
the issuer, an audience among `logout_audience` (Keycloak addresses a logout token to the
client the user logged in through, `web`, never to the API), a fresh `iat`, the back-channel
logout event, a `sid` or `sub`, no `nonce`, and the `typ` Keycloak sends. Replay (`jti`) is
checked by the caller, against the store, after everything else has passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from fastapi_kc._claims import check_issuer, numeric_date
from fastapi_kc._errors import AuthError, InvalidTokenError
from fastapi_kc._jwks import KeySetCache
from fastapi_kc._jws import b64url_decode, decode_json_object, parse_compact, verified_payload

LOGOUT_EVENT: Final = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPE: Final = "logout+jwt"  # noqa: S105 - a media type, not a secret
MAX_AGE: Final = 120.0  # seconds; Keycloak 26.5 gives its logout tokens `exp` = `iat` + 120 s


class InvalidLogoutTokenError(Exception):
    """The logout token must not be honoured; `description` says why (no token bytes)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True, slots=True)
class LogoutClaims:
    """What a valid logout token asks for: end session `sid` and/or subject `sub` at `iat`."""

    session_id: str | None
    subject: str | None
    issued_at: float
    jti: str


class LogoutTokenValidator:
    """Checks logout tokens of one realm for the clients of `audience`."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: frozenset[str],
        algorithms: frozenset[str],
        keys: KeySetCache,
        clock: Callable[[], float],
        leeway: float,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._algorithms = algorithms
        self._keys = keys
        self._clock = clock
        self._leeway = leeway

    async def validate(self, token: str) -> LogoutClaims:
        """The logout request carried by `token`.

        Raises:
            InvalidLogoutTokenError: any rule of §2.6 fails.
            AuthError: 503 when the token's key is unknown and Keycloak cannot be reached.
        """
        try:
            claims = await self._verified_claims(token)
        except InvalidTokenError as exc:
            raise InvalidLogoutTokenError(f"logout token refused: {exc.description}") from None
        return self._check(claims)

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        parsed = parse_compact(token, allowed_algorithms=self._algorithms)
        # §2.6 step 2 (and RFC 8725 §3.11): explicit typing keeps an ID or access token, signed by
        # the same realm key, from being replayed here as a logout token.
        header = decode_json_object(b64url_decode(token.split(".", 1)[0]), "header")
        if header.get("typ") != LOGOUT_TOKEN_TYPE:
            raise InvalidTokenError(f"header typ is not {LOGOUT_TOKEN_TYPE}", reason="token_type")
        return verified_payload(await self._keys.signing_key(parsed.kid), parsed)

    def _check(self, claims: dict[str, Any]) -> LogoutClaims:
        try:
            check_issuer(claims, self._issuer)
            iat = numeric_date(claims, "iat", required=True) or 0.0
            exp = numeric_date(claims, "exp", required=False)
        except AuthError as exc:
            raise InvalidLogoutTokenError(f"logout token refused: {exc.description}") from None
        aud = claims.get("aud")
        # Members that are not strings name no client (and a JSON object is not hashable).
        audiences = (
            {aud}
            if isinstance(aud, str)
            else {a for a in aud if isinstance(a, str)}
            if isinstance(aud, list)
            else set()
        )
        # §2.6 step 3: the audience must be a client whose logouts this service honours.
        if not audiences & self._audience:
            raise InvalidLogoutTokenError("logout token refused: audience (aud) is not in logout_audience")
        now = self._clock()
        # §2.6 step 3: "iat" is checked as for an ID token: recent, and not in the future.
        if iat > now + self._leeway or iat < now - MAX_AGE - self._leeway:
            raise InvalidLogoutTokenError("logout token refused: issued-at (iat) is not recent")
        if exp is not None and now > exp + self._leeway:
            raise InvalidLogoutTokenError("logout token refused: token has expired")
        # §2.6 step 4: an events member with the back-channel logout event, whose value is a JSON object.
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(LOGOUT_EVENT), dict):
            raise InvalidLogoutTokenError("logout token refused: no back-channel logout event")
        sid, sub = claims.get("sid"), claims.get("sub")
        sid = sid if isinstance(sid, str) and sid else None
        sub = sub if isinstance(sub, str) and sub else None
        # §2.6 step 5: a sid, a sub, or both.
        if sid is None and sub is None:
            raise InvalidLogoutTokenError("logout token refused: it names neither a session (sid) nor a subject (sub)")
        # §2.6 step 6: a logout token MUST NOT contain a nonce (so an ID token cannot pass for one).
        if "nonce" in claims:
            raise InvalidLogoutTokenError("logout token refused: it contains a nonce")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise InvalidLogoutTokenError("logout token refused: no token identifier (jti)")
        return LogoutClaims(sid, sub, iat, jti)
