"""How a verified token's claims read as a Principal's fields: pure functions of JSON values.

Claims of an unexpected JSON type give nothing rather than something wrong: a string is not a
list of roles, a boolean is not a time. Nothing here raises for a claim's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

_TRUE_STRINGS: Final = frozenset({"true"})
NO_ROLES: Final[frozenset[str]] = frozenset()


def read_str(value: Any) -> str | None:
    """A string claim, or None for any other JSON type."""
    return value if isinstance(value, str) else None


def read_roles(access: Any) -> frozenset[str]:
    """`{"roles": [...]}` as Keycloak writes it (frozen: a tuple); anything else gives no roles."""
    if not isinstance(access, Mapping):
        return NO_ROLES
    roles = access.get("roles")
    if not isinstance(roles, tuple | list):
        return NO_ROLES
    return frozenset(role for role in roles if isinstance(role, str))


def read_client_roles(resource_access: Any) -> Mapping[str, frozenset[str]]:
    """`resource_access` as roles by client; clients without a role are left out."""
    if not isinstance(resource_access, Mapping):
        return MappingProxyType({})
    by_client = {client: roles for client, access in resource_access.items() if (roles := read_roles(access))}
    return MappingProxyType(by_client)


def read_audience(aud: Any) -> frozenset[str]:
    """`aud`, one string or a list of them (RFC 7519 §4.1.3), as a set."""
    if isinstance(aud, str):
        return frozenset((aud,))
    if isinstance(aud, tuple | list):
        return frozenset(item for item in aud if isinstance(item, str))
    return frozenset()


def read_time(value: Any) -> datetime | None:
    """A NumericDate as a UTC datetime; None for a non-number or one no datetime can hold."""
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
    if isinstance(value, tuple | list):
        return len(value) == 1 and parse_bool(value[0])
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in _TRUE_STRINGS


def is_service_account_token(claims: Mapping[str, Any]) -> bool:
    """A client-credentials token, recognised explicitly.

    Keycloak gives such tokens a `client_id` claim (`clientId` before 26), the username
    `service-account-<client>`, and no user session (`sid`/`session_state`). All three must hold:
    a user without an email, or one who logged in through a confidential client, has a session.
    And the token must have been issued to that very client (`azp` equal to `client_id`): claims
    are written by mappers, so another client could be given mappers that write `client_id` and
    the username, but `azp` is set by Keycloak to the client that asked for the token.
    """
    client_id = read_str(claims.get("client_id")) or read_str(claims.get("clientId"))
    if not client_id or "sid" in claims or "session_state" in claims:
        return False
    if claims.get("azp") != client_id:
        return False
    username = read_str(claims.get("preferred_username")) or ""
    return username.lower() == f"service-account-{client_id}".lower()


def client_grant(client: str, role: str) -> str:
    """`client:<client>:<role>`, the grant string for Starlette's `@requires`, written so it cannot collide.

    Client ids and role names may both contain `:`, so `client:urn:shop:api:admin` could be role
    `api:admin` of client `urn:shop` or role `admin` of client `urn:shop:api`. The client id is
    therefore percent-encoded (`%` -> `%25`, `:` -> `%3A`): the first `:` after `client:` always
    ends the client id, and the rest is the role, colons included. Ids without `:` or `%` (the
    usual `api`, `shop-api`) read as before: `client:api:orders:read`.
    """
    if ":" in client or "%" in client:
        client = client.replace("%", "%25").replace(":", "%3A")
    return f"client:{client}:{role}"
