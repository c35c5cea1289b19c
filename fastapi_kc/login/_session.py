"""One browser's login, as the server keeps it: Keycloak's tokens and the session's CSRF token.

Pure data and arithmetic on a clock passed in; no I/O. The session id in the cookie is never
used as a store key as it is: the store sees its SHA-256, so a leaked store dump names no
usable cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

SESSION_KEY_PREFIX = "login-session:"


def new_secret() -> str:
    """An unguessable value for a session id or a CSRF token (256 bits)."""
    return secrets.token_urlsafe(32)


def store_key(session_id: str) -> str:
    return SESSION_KEY_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


def _seconds(token: Mapping[str, Any], name: str) -> float | None:
    value = token.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


@dataclass(frozen=True)
class LoginSession:
    """Tokens of one login. `expires_at` and `refresh_expires_at` are on the wall clock."""

    access_token: str
    expires_at: float
    csrf_token: str
    refresh_token: str | None = None
    refresh_expires_at: float | None = None
    id_token: str | None = None

    def __repr__(self) -> str:  # the tokens never reach a log
        return f"LoginSession(expires_at={self.expires_at:.0f}, refreshable={self.refresh_token is not None})"

    @classmethod
    def from_token_response(cls, token: Mapping[str, Any], now: float, csrf_token: str) -> LoginSession:
        """From Keycloak's token response. Raises ValueError when it holds no access token."""
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise ValueError("the token response holds no access token")
        refresh = token.get("refresh_token")
        refresh_in = _seconds(token, "refresh_expires_in")  # 0 for offline tokens: no fixed end
        id_token = token.get("id_token")
        return cls(
            access_token=access,
            expires_at=now + (_seconds(token, "expires_in") or 60),
            csrf_token=csrf_token,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            refresh_expires_at=None if refresh_in is None else now + refresh_in,
            id_token=id_token if isinstance(id_token, str) and id_token else None,
        )

    def refreshed(self, token: Mapping[str, Any], now: float) -> LoginSession:
        """After a refresh: new tokens, the same CSRF token; what Keycloak did not resend is kept."""
        new = LoginSession.from_token_response(token, now, self.csrf_token)
        return replace(
            new,
            refresh_token=new.refresh_token or self.refresh_token,
            refresh_expires_at=new.refresh_expires_at if new.refresh_token else self.refresh_expires_at,
            id_token=new.id_token or self.id_token,
        )

    def needs_refresh(self, now: float, margin: float) -> bool:
        """True within `margin` seconds of the access token's expiry, so no request meets an expired token."""
        return self.expires_at - now <= margin

    def ttl(self, now: float, longest: float) -> float:
        """How long the store keeps it: while it can still be refreshed (or used), at most `longest`."""
        end = self.refresh_expires_at if self.refresh_token else self.expires_at
        if end is None:  # an offline token: no end given by Keycloak
            return longest
        return max(1.0, min(end - now, longest))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoginSession | None:
        """None for data that is not a session (a store shared with something else, an old format)."""
        try:
            return cls(**data)
        except TypeError:
            return None
