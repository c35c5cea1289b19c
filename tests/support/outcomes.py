"""A verification's outcome as a value, so tests can gather many and assert on each."""

from __future__ import annotations

from fastapi_kc import AuthError, KeycloakAuth, Principal


async def outcome(auth: KeycloakAuth, token: str) -> Principal | AuthError:
    """The `Principal` for `token`, or the `AuthError` that refused it (anything else propagates)."""
    try:
        return await auth.verify(token)
    except AuthError as exc:
        return exc
