"""Who is calling: an immutable view of a verified access token.

Realm roles and the roles of each client stay apart (`has_role("x")` never matches a client
role). A service account is recognised from what Keycloak puts only into client-credentials
tokens, never from a missing email (field notes §3). Claims of an unexpected JSON type give
nothing rather than something wrong: a string is not a list of roles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

_TRUE_STRINGS: Final = frozenset({"true"})
_NO_ROLES: Final[frozenset[str]] = frozenset()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _roles(access: Any) -> frozenset[str]:
    """`{"roles": [...]}` as Keycloak writes it; anything else gives no roles."""
    if not isinstance(access, dict):
        return _NO_ROLES
    roles = access.get("roles")
    if not isinstance(roles, list):
        return _NO_ROLES
    return frozenset(role for role in roles if isinstance(role, str))


def _client_roles(resource_access: Any) -> Mapping[str, frozenset[str]]:
    if not isinstance(resource_access, dict):
        return MappingProxyType({})
    return MappingProxyType({client: roles for client, access in resource_access.items() if (roles := _roles(access))})


def _audience(aud: Any) -> frozenset[str]:
    if isinstance(aud, str):
        return frozenset((aud,))
    if isinstance(aud, list):
        return frozenset(item for item in aud if isinstance(item, str))
    return frozenset()


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_bool(value: Any) -> bool:
    """`true`, `"true"` (any case) and `["true"]` are true; everything else is false.

    A user attribute mapped into a token arrives in any of these shapes depending on the
    mapper's JSON type and the Keycloak version (field notes §4).
    """
    if isinstance(value, list):
        return len(value) == 1 and parse_bool(value[0])
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in _TRUE_STRINGS


def is_service_account_token(claims: Mapping[str, Any]) -> bool:
    """A client-credentials token, recognised explicitly.

    Keycloak gives such tokens a `client_id` claim (`clientId` before 26), the username
    `service-account-<client>`, and no user session (`sid`/`session_state`). All three must hold:
    a user without an email, or one who logged in through a confidential client, has a session.
    """
    client_id = _str(claims.get("client_id")) or _str(claims.get("clientId"))
    if not client_id or "sid" in claims or "session_state" in claims:
        return False
    username = _str(claims.get("preferred_username")) or ""
    return username.lower() == f"service-account-{client_id}".lower()


@dataclass(frozen=True, slots=True, repr=False)
class Principal:
    """The caller of a request, built from a verified access token. Immutable.

    Works as Starlette's `request.user` (`is_authenticated`, `display_name`, `identity`) and
    exposes `grants` for Starlette's `@requires`: `authenticated`, `realm:<role>`,
    `client:<client>:<role>` and `scope:<scope>`.
    """

    subject: str
    username: str | None
    email: str | None
    realm_roles: frozenset[str]
    client_roles: Mapping[str, frozenset[str]]
    scopes: frozenset[str]
    audience: frozenset[str]
    authorized_party: str | None
    client_id: str | None
    is_service_account: bool
    session_id: str | None
    issued_at: datetime | None
    expires_at: datetime | None
    auth_time: datetime | None
    acr: str | None
    groups: tuple[str, ...]
    claims: Mapping[str, Any] = field(compare=False)

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        """Build from the claims of a token that has passed every check."""
        scope = claims.get("scope")
        groups = claims.get("groups")
        return cls(
            subject=claims["sub"],
            username=_str(claims.get("preferred_username")),
            email=_str(claims.get("email")),
            realm_roles=_roles(claims.get("realm_access")),
            client_roles=_client_roles(claims.get("resource_access")),
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            audience=_audience(claims.get("aud")),
            authorized_party=_str(claims.get("azp")),
            client_id=_str(claims.get("client_id")) or _str(claims.get("clientId")),
            is_service_account=is_service_account_token(claims),
            session_id=_str(claims.get("sid")) or _str(claims.get("session_state")),
            issued_at=_timestamp(claims.get("iat")),
            expires_at=_timestamp(claims.get("exp")),
            auth_time=_timestamp(claims.get("auth_time")),
            acr=_str(claims.get("acr")),
            groups=tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else (),
            claims=MappingProxyType(claims),
        )

    def has_role(self, role: str, client: str | None = None) -> bool:
        """A realm role, or with `client` a role of that client; the two are never mixed."""
        if client is None:
            return role in self.realm_roles
        return role in self.client_roles.get(client, _NO_ROLES)

    def claim_bool(self, name: str) -> bool:
        """Claim `name` read as a boolean whatever shape Keycloak gave it; missing is false."""
        return parse_bool(self.claims.get(name))

    # --- Starlette's user protocol ---------------------------------------------------------

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.username or self.client_id or self.subject

    @property
    def identity(self) -> str:
        return self.subject

    @property
    def grants(self) -> list[str]:
        """Everything this caller holds, as strings for Starlette's `AuthCredentials`/`@requires`."""
        grants = ["authenticated"]
        grants += [f"realm:{role}" for role in sorted(self.realm_roles)]
        grants += [f"client:{client}:{role}" for client, roles in self.client_roles.items() for role in sorted(roles)]
        grants += [f"scope:{scope}" for scope in sorted(self.scopes)]
        return grants

    def __repr__(self) -> str:
        kind = "service account" if self.is_service_account else "user"
        return f"Principal({kind} {self.display_name!r}, subject={self.subject!r})"
