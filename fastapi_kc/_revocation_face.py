"""The revocation face of `KeycloakAuth`: its store, the back-channel logout route, WebSocket guards.

Kept apart from `_auth` (life cycle and verification) because it reaches the optional
`fastapi_kc.revocation` subpackage, imported here on first use only: a service that never
builds the logout router imports no more than the memory store at start-up, and `redis` only
when `KEYCLOAK_REVOCATION_STORE` names a Redis URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi_kc._errors import ConfigurationError
from fastapi_kc._jwks import KeySetCache
from fastapi_kc._metrics import MetricsSink
from fastapi_kc._paths import with_route
from fastapi_kc._revocations import Revocation, RevocationList
from fastapi_kc._settings import KeycloakSettings, env_name

if TYPE_CHECKING:
    from fastapi import APIRouter

    from fastapi_kc.revocation import RevocationStore
    from fastapi_kc.revocation._logout_token import LogoutClaims


class RevocationFace:
    """Mixed into `KeycloakAuth`, which sets the attributes declared here in its constructor."""

    settings: KeycloakSettings
    revocations: RevocationList
    public_paths: frozenset[str]
    metrics: MetricsSink
    _keys: KeySetCache
    _clock: Callable[[], float]
    _injected_store: RevocationStore | None
    _store: RevocationStore | None

    async def _start_store(self) -> None:
        """Open the store (`revocation_store` setting, or the one passed in) and load what it knows.

        Raises:
            ConfigurationError: Redis unreachable, or the redis package missing.
        """
        store = self._injected_store
        if store is None:
            from fastapi_kc.revocation import store_from_settings

            store = store_from_settings(self.settings, clock=self._clock)
        # A shared store brings other replicas' logouts; a store passed in may be fed by its owner.
        # Only the private memory store of a service without a logout route never revokes anything.
        if self._injected_store is not None or self.settings.revocation_store != "memory":
            self.revocations.may_revoke = True
        await store.start(self.revocations)
        self._store = store

    async def _close_store(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            await store.close()

    @property
    def revocation_state(self) -> str:
        """The revocation store's state, for health checks: `not started`, `memory`, `connected`,
        `reconnecting` (shared store unreachable; known revocations still apply) or `stale`
        (unreachable past `revocation_max_stale_seconds`: requests are refused with 503)."""
        return self._store.state if self._store is not None else "not started"

    @property
    def websocket_guard(self) -> dict[str, Any]:
        """What `KeycloakMiddleware` needs to close a WebSocket whose session ends."""
        return {
            "revocations": self.revocations,
            "close_on_expiry": self.settings.websocket_close_on_expiry,
            "clock": self._clock,
        }

    def backchannel_logout_router(self, path: str = "/backchannel-logout") -> APIRouter:
        """The OpenID Connect back-channel logout endpoint Keycloak calls: `app.include_router(...)`.

        Set the client's "Backchannel logout URL" in Keycloak to this route. It needs no bearer
        token: `path` joins `auth.public_paths`, which `KeycloakMiddleware` lets through without
        listing it in its own `public_paths`. Include the router without a prefix; to serve the
        route elsewhere, give the whole path here.

        Raises:
            ConfigurationError: `logout_audience` is empty (which clients' logouts count?).
        """
        if not self.settings.logout_audience:
            raise ConfigurationError(
                f"backchannel_logout_router needs {env_name('logout_audience')}: the client id(s) users log in "
                "through (e.g. `web`). Keycloak addresses logout tokens to that client, not to the API; adding it "
                f"to {env_name('audience')} instead would let that client's access tokens into this API"
            )
        from fastapi_kc.revocation._logout_token import LogoutTokenValidator
        from fastapi_kc.revocation._router import logout_router

        validator = LogoutTokenValidator(
            issuer=self.settings.issuer,
            audience=frozenset(self.settings.logout_audience),
            algorithms=frozenset(self.settings.algorithms),
            keys=self._keys,
            clock=self._clock,
            leeway=self.settings.leeway_seconds,
        )
        self.public_paths = with_route(self.public_paths, "backchannel_logout_router", path)
        self.revocations.may_revoke = True
        return logout_router(validator, self._logout, path, self.metrics)

    async def _logout(self, claims: LogoutClaims) -> None:
        from fastapi_kc.revocation._logout_token import MAX_AGE, InvalidLogoutTokenError
        from fastapi_kc.revocation._store import StoreUnavailableError

        store = self._store
        if store is None:
            raise StoreUnavailableError("authentication is not started")
        leeway = self.settings.leeway_seconds
        if not await store.first_use(claims.jti, claims.issued_at + MAX_AGE + 2 * leeway):
            raise InvalidLogoutTokenError("logout token refused: it was used before (jti replay)")
        until = claims.issued_at + self.settings.revocation_retention_seconds + leeway
        # Keycloak sends one logout token per client naming one session, even when every session
        # of the user ends: the subject is revoked too (tokens issued up to the logout).
        if claims.session_id is not None:
            await store.revoke(Revocation("sid", claims.session_id, claims.issued_at, until))
        if claims.subject is not None:
            await store.revoke(Revocation("sub", claims.subject, claims.issued_at, until))
