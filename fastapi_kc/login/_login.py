"""`BrowserLogin`: sign a browser in through Keycloak and keep its tokens on the server.

The browser holds one cookie, Starlette's signed session cookie, whose only lasting content is a
random session id; the tokens live in a `SessionStore`. `login.credentials` hands
`KeycloakMiddleware` the session's access token (refreshed shortly before it expires), so a
cookie-authenticated request is verified by exactly the same `auth.verify` as a bearer token.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import httpx2
from authlib.integrations.base_client import OAuthError
from fastapi import APIRouter
from pydantic import SecretStr
from starlette.requests import Request
from starlette.types import Scope

from fastapi_kc import ConfigurationError, InvalidTokenError, KeycloakAuth, KeysUnavailableError
from fastapi_kc._text import printable
from fastapi_kc.login import _csrf as csrf
from fastapi_kc.login._keycloak import UNREACHABLE, KeycloakClient
from fastapi_kc.login._routes import add_routes
from fastapi_kc.login._session import LoginSession, store_key
from fastapi_kc.login._store import MemorySessionStore, SessionStore

logger = logging.getLogger("fastapi_kc.login")

SCOPE_KEY = "fastapi_kc.login"  # where the request's LoginSession is kept in the ASGI scope
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _secret(value: str | SecretStr | None) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class SessionEndedError(InvalidTokenError):
    """401: the cookie names a login session the server no longer has (logged out, expired, refused)."""


class BrowserLogin:
    """Login routes for server-rendered pages and browser WebSockets, on Authlib's Starlette client.

    Mount `login.router`, wrap the app in `SessionMiddleware(**login.session_cookie)` (outside
    `KeycloakMiddleware`), and pass `credentials=login.credentials` to the middleware; see the
    README. `client_id`/`client_secret` are the Keycloak client browsers log in through (a
    confidential one; `client_secret=None` for a public one), `app_url` this app's public base URL
    (`https://shop.example.com`), `secret_key` signs the cookie.

    Raises:
        ConfigurationError: an `app_url` that is not https outside localhost, a short
            `secret_key`, or an allow-list entry that is not an origin or URL.
    """

    def __init__(
        self,
        auth: KeycloakAuth,
        *,
        client_id: str,
        client_secret: str | SecretStr | None,
        app_url: str,
        secret_key: str | SecretStr,
        store: SessionStore | None = None,
        prefix: str = "/auth",
        scope: str = "openid profile email",
        post_logout_redirects: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
        refresh_margin_seconds: float = 30,
        max_session_seconds: float = 8 * 3600,
        cookie_name: str = "fastapi_kc_session",
        clock: Callable[[], float] = time.time,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.auth = auth
        self.app_url = app_url.rstrip("/")
        parts = urlsplit(self.app_url)
        local = parts.hostname in _LOOPBACK
        if parts.scheme not in ("http", "https") or not parts.hostname or (parts.scheme == "http" and not local):
            raise ConfigurationError(
                f"app_url={app_url!r}: give this app's public base URL, https:// outside localhost "
                "(the session cookie must be Secure there)"
            )
        key = _secret(secret_key) or ""
        if len(key) < 32:
            raise ConfigurationError("secret_key must be at least 32 characters (it signs the session cookie)")
        self.store: SessionStore = store if store is not None else MemorySessionStore()
        self.prefix = prefix.rstrip("/")
        self.redirect_uri = f"{self.app_url}{self.prefix}/callback"
        try:
            self.allowed_origins = csrf.allowed_origins([self.app_url, *allowed_origins])
        except ValueError as exc:
            raise ConfigurationError(f"allowed_origins: {exc}") from None
        self.post_logout_redirects = frozenset(self._absolute(u) for u in post_logout_redirects) or frozenset(
            {f"{self.app_url}/"}
        )
        self.refresh_margin = refresh_margin_seconds
        self.max_session_seconds = max_session_seconds
        self.clock = clock
        self.keycloak = KeycloakClient(
            auth.settings, self.store, client_id=client_id, client_secret=_secret(client_secret),
            scope=scope, transport=transport,
        )  # fmt: skip
        self.session_cookie: dict[str, Any] = {
            "secret_key": key,
            "session_cookie": cookie_name,
            "max_age": None,  # a browser-session cookie: the server-side session decides how long it lasts
            "same_site": "lax",  # sent on the top-level redirect back from Keycloak, not on cross-site POSTs
            "https_only": not local,  # Secure everywhere but on a developer's localhost
        }
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.router = APIRouter(prefix=self.prefix, include_in_schema=False)
        add_routes(self)

    def __repr__(self) -> str:
        return f"BrowserLogin(client_id={self.keycloak.client_id!r}, app_url={self.app_url!r})"

    def _absolute(self, url: str) -> str:
        return f"{self.app_url}{url}" if url.startswith("/") else url

    # --- the credential source of KeycloakMiddleware ------------------------------------------

    async def credentials(self, scope: Scope) -> str | None:
        """The access token of the request's login session, or None when it has no session.

        Called by `KeycloakMiddleware(credentials=...)` for requests without an Authorization
        header. Checks the origin (and, for state-changing methods, the CSRF token), and refreshes
        the access token when it is about to expire.

        Raises:
            SessionEndedError: the cookie names a session that ended.
            CsrfError: a state-changing request or WebSocket handshake from another site.
            KeysUnavailableError: the token expired and Keycloak cannot be reached to refresh it.
        """
        cookie = cookie_session(scope)
        session_id = cookie.get("sid")
        if not isinstance(session_id, str):
            return None
        session = await self.load(session_id)
        if session is None:
            cookie.pop("sid", None)  # SessionMiddleware then expires the cookie in the refusal
            raise SessionEndedError("the login session has ended: log in again", reason="session_ended")
        if scope["type"] == "websocket":
            csrf.check_origin(scope["headers"], self.allowed_origins)
        elif scope["method"] not in csrf.SAFE_METHODS:
            csrf.check_origin(scope["headers"], self.allowed_origins)
            csrf.check_token(csrf.header_token(scope["headers"]), session.csrf_token)
        session = await self.fresh(session_id, session, cookie)
        scope[SCOPE_KEY] = session
        return session.access_token

    def csrf_token(self, request: Request) -> str | None:
        """The CSRF token of the request's login session, for its page's forms and scripts.

        None when the request was not authenticated by the session cookie (a bearer token needs none).
        """
        session = request.scope.get(SCOPE_KEY)
        return session.csrf_token if isinstance(session, LoginSession) else None

    # --- sessions ------------------------------------------------------------------------------

    async def load(self, session_id: str) -> LoginSession | None:
        data = await self.store.load(store_key(session_id))
        return None if data is None else LoginSession.from_dict(data)

    async def save(self, session_id: str, session: LoginSession) -> None:
        ttl = session.ttl(self.clock(), self.max_session_seconds)
        await self.store.save(store_key(session_id), session.to_dict(), ttl)

    async def end(self, session_id: str, cookie: MutableMapping[str, Any]) -> None:
        await self.store.delete(store_key(session_id))
        cookie.clear()

    async def fresh(
        self, session_id: str, session: LoginSession, cookie: MutableMapping[str, Any], *, force: bool = False
    ) -> LoginSession:
        """`session`, refreshed first when its access token expires within the margin (or `force`).

        Raises:
            SessionEndedError: Keycloak refused the refresh (the session ends here too).
            KeysUnavailableError: Keycloak unreachable and the access token already expired.
        """
        if not force and not session.needs_refresh(self.clock(), self.refresh_margin):
            return session
        # One refresh per session at a time: a page's parallel requests would otherwise each
        # spend the refresh token, and Keycloak may revoke a refresh token used twice.
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        async with lock:
            current = await self.load(session_id)
            if current is None:
                cookie.pop("sid", None)
                raise SessionEndedError("the login session has ended: log in again", reason="session_ended")
            now = self.clock()
            if not force and not current.needs_refresh(now, self.refresh_margin):
                return current  # another request refreshed it while this one waited
            if current.refresh_token is None:
                if current.expires_at > now:
                    return current
                await self.end(session_id, cookie)
                raise SessionEndedError("the login session has expired: log in again", reason="session_expired")
            try:
                token = await self.keycloak.refresh(current.refresh_token)
                refreshed = current.refreshed(token, self.clock())
            except OAuthError as exc:
                await self.end(session_id, cookie)
                code = printable(exc.error, 80)  # a server value, shown as every server value is
                logger.info("login session ended: Keycloak refused the refresh (%s)", code)
                raise SessionEndedError(
                    f"the login session has ended: Keycloak refused to refresh it ({code}); log in again",
                    reason="refresh_refused",
                ) from None
            except (*UNREACHABLE, ValueError) as exc:
                logger.warning("login session not refreshed: Keycloak unreachable or failing (%s)", type(exc).__name__)
                if current.expires_at > now:
                    return current  # still valid: try again on a later request
                raise KeysUnavailableError(
                    "Keycloak cannot be reached to refresh the login session: retry shortly", reason="refresh_failed"
                ) from None
            await self.save(session_id, refreshed)
            return refreshed


def cookie_session(scope: Scope) -> MutableMapping[str, Any]:
    """The cookie session Starlette's `SessionMiddleware` put into the scope.

    Raises:
        ConfigurationError: no SessionMiddleware wraps the app (a set-up mistake).
    """
    session = scope.get("session")
    if session is None:
        raise ConfigurationError(
            "no session in the request: add SessionMiddleware(**login.session_cookie) outside KeycloakMiddleware "
            "(app.add_middleware(SessionMiddleware, ...) after app.add_middleware(KeycloakMiddleware, ...))"
        )
    result: MutableMapping[str, Any] = session
    return result
