"""`KeycloakMiddleware`: pure ASGI, for HTTP and WebSocket; lifespan and other scopes pass through.

Every request outside `public_paths` needs a valid bearer token. The `Principal` goes into
`scope["user"]` (so `request.user` / `websocket.user`) and Starlette's `AuthCredentials` into
`scope["auth"]` (so `@requires("realm:admin")` works). The route dependencies of
`KeycloakAuth` find it there and do not verify twice. Public rules are parsed in `_paths`, the
choice among several realms' auths is `_issuers`, and refusals are written by `_responses`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final, cast

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_kc._auth import KeycloakAuth
from fastapi_kc._credentials import CREDENTIAL_SCOPE_KEY, CredentialSource, has_authorization
from fastapi_kc._errors import AuthError, ConfigurationError
from fastapi_kc._issuers import AuthByIssuer
from fastapi_kc._paths import PublicPaths, Rule
from fastapi_kc._principal import Principal
from fastapi_kc._responses import app_handler, http_form, send_http_refusal, send_websocket_refusal
from fastapi_kc._websocket_guard import guard_websocket

logger = logging.getLogger("fastapi_kc")
OnError = Callable[[Request, AuthError], Response | Awaitable[Response]]
_MAX_DEPTH: Final = 64  # middleware layers looked through for a misplaced CORSMiddleware


class _Credentials(AuthCredentials):
    """Starlette's `request.auth`, with the grants listed only when something reads them.

    Listing them means parsing every role claim; most requests never look.
    """

    def __init__(self, principal: Principal) -> None:  # no super().__init__: `scopes` is computed
        self._principal = principal

    @property
    def scopes(self) -> list[str]:  # type: ignore[override]
        return list(self._principal.grants)


def _route_path(scope: Scope) -> str:
    """The path as the application's routes see it: without the `root_path` a proxy mounts it under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and (path == root or path.startswith(f"{root}/")):
        return path[len(root) :] or "/"
    return path


def _cors_inside(app: ASGIApp) -> bool:
    """Whether Starlette's `CORSMiddleware` runs inside this middleware (the wrong order)."""
    layer: object = app
    for _ in range(_MAX_DEPTH):
        if isinstance(layer, CORSMiddleware):
            return True
        layer = getattr(layer, "app", None)
        if layer is None:
            return False
    return False


class _StartupFailedError(Exception):
    """Carries a start-up failure out of the wrapped `receive` to the middleware's lifespan branch."""

    def __init__(self, error: ConfigurationError) -> None:
        super().__init__(str(error))
        self.error = error


class KeycloakMiddleware:
    """Refuse every HTTP and WebSocket request without a valid token, except `public_paths`.

    `public_paths` holds exact paths (`/health`) and prefixes written `/static/*` (which also
    matches `/static` itself), each for every method, or as a `(method, path)` pair for one
    method (`("GET", "/catalog/*")`; `GET` also covers `HEAD`). On a public path a request still
    has a user, as with Starlette's `AuthenticationMiddleware`: the `Principal` of a valid token
    (optional authentication), or `UnauthenticatedUser` with empty `AuthCredentials` when there
    is no token or a bad one.

    `auth` may be a list of `KeycloakAuth`s, one per realm: the token's issuer (read unverified,
    only to pick) chooses the auth, which then verifies it strictly; a token of an issuer none
    of them trusts is refused with 401.

    A refused HTTP request is answered `{"detail": ...}` with the RFC 6750 challenge, as the
    dependencies answer. To answer otherwise, pass `on_error(request, error) -> Response` (sync
    or async, as Starlette's `AuthenticationMiddleware` takes it), or register an exception
    handler for `AuthError` (or one of its subclasses) on the app: it shapes the middleware's
    refusals and the dependencies' alike. The `error` handed over carries the challenge in
    `error.headers`. A refused WebSocket handshake is always closed with 1008.

    The middleware also starts and stops every auth with the application's lifespan (and
    closes them when the app's own start-up fails), so a forgotten `lifespan=auth.lifespan`
    cannot leave one unstarted. Put Starlette's `CORSMiddleware` outside it (add it after this
    one), so that preflights are answered before authentication; the reverse order is logged
    as a warning when the middleware is built.

    `credentials` (off by default) is asked for a token when a request has no Authorization
    header, e.g. `BrowserLogin.credentials` for a login session cookie; its token is verified
    like a bearer token, on public paths too. Without it, cookies are never read.

    Raises:
        TypeError: `public_paths` is a string (a list of paths was meant) or holds a non-string.
        ValueError: a public path does not start with `/`, or has `*` anywhere but a final `/*`;
            two auths share an issuer.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        auth: KeycloakAuth | Sequence[KeycloakAuth],
        public_paths: Iterable[Rule] = (),
        on_error: OnError | None = None,
        credentials: CredentialSource | None = None,
    ) -> None:
        self.app = app
        self.credentials = credentials
        self._auths = AuthByIssuer([auth] if isinstance(auth, KeycloakAuth) else list(auth))
        self.auth = self._auths.first
        self._single = len(self._auths.auths) == 1
        self._public = PublicPaths(public_paths)
        self._on_error = on_error
        if _cors_inside(app):
            logger.warning(
                "CORSMiddleware runs inside KeycloakMiddleware: CORS preflights on protected paths get 401 and "
                "refusals carry no CORS headers. Add CORSMiddleware after KeycloakMiddleware (the last "
                "app.add_middleware call is the outermost) so that it answers first."
            )

    @property
    def auths(self) -> tuple[KeycloakAuth, ...]:
        """Every auth this middleware chooses among by the token's issuer (one per realm), in the order given."""
        return self._auths.auths

    def is_public(self, path: str, method: str = "GET") -> bool:
        """Whether a `method` request for `path` (as the routes see it) needs no token."""
        return self._public.match(path, method)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        auth = self.auth
        # A token verified before answers without a coroutine (one auth: the common case).
        principal = auth.cached_principal(scope["headers"]) if self._single else None
        if principal is None:
            try:
                headers = await self._credential_headers(scope)
                auth = self._auths.choose(headers)
                # `optional`: a request without a token is recorded below, once it is known not public.
                principal = await auth.authenticate(headers, scope, True)
            except AuthError as exc:
                if self._is_public(scope):
                    # A public path answers anyway, to an anonymous caller (no token, a bad one, or
                    # Keycloak unreachable). A bad token's refusal is logged and counted as usual; no
                    # token at all is not a refusal here (probes, metric scrapes).
                    scope["user"] = UnauthenticatedUser()
                    scope["auth"] = AuthCredentials()
                    await self.app(scope, receive, send)
                else:
                    if not exc.recorded:  # no token at all, or an issuer no auth trusts
                        auth._refused(exc, scope)
                    await self._refuse(scope, receive, send, exc, auth.settings.realm)
                return
        scope["user"] = principal
        scope["auth"] = _Credentials(principal)
        if kind == "websocket":
            # Closed with 1008 once its session is revoked (or its token expires, if asked).
            await guard_websocket(self.app, scope, receive, send, principal=principal, **auth.websocket_guard)
            return
        await self.app(scope, receive, send)

    def _is_public(self, scope: Scope) -> bool:
        path = _route_path(scope)
        # The handshake of a WebSocket is a GET. `auth.public_paths`: routes only Keycloak calls
        # (back-channel logout), public by construction.
        return self._public.match(path, scope.get("method", "GET")) or any(
            path in auth.public_paths for auth in self._auths.auths
        )

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, error: AuthError, realm: str) -> None:
        if scope["type"] == "websocket":
            await send_websocket_refusal(send, error)
            return
        handler = self._on_error or app_handler(scope.get("app"), error)
        if handler is None:
            await send_http_refusal(send, error, realm)
            return
        response = handler(Request(scope, receive), cast(AuthError, http_form(error, realm)))
        if inspect.isawaitable(response):
            response = await response
        await response(scope, receive, send)

    async def _credential_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """The request's headers, or, for a request without Authorization header whose credential
        source has a token, that token as a bearer header: then it takes the bearer path unchanged."""
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if self.credentials is None or has_authorization(headers):
            return headers
        token = await self.credentials(scope)
        if token is None:
            return headers
        scope[CREDENTIAL_SCOPE_KEY] = token
        return [(b"authorization", f"Bearer {token}".encode())]

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        started: list[KeycloakAuth] = []
        app = scope.get("app")

        async def close_started() -> None:
            while started:
                await started.pop().close()

        async def wrapped_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for auth in self._auths.auths:
                        await auth._start_with_app()
                        started.append(auth)
                except ConfigurationError as exc:
                    raise _StartupFailedError(exc) from exc
                for auth in started:
                    auth.document_openapi(app)  # the login and the refusals in the app's OpenAPI
            elif message["type"] == "lifespan.shutdown":
                await close_started()
            return message

        try:
            await self.app(scope, wrapped_receive, send)
        except _StartupFailedError as failed:
            # Raised inside the app's `receive`, before its own error handling: tell the
            # server here, so it stops instead of serving with authentication not started.
            await send({"type": "lifespan.startup.failed", "message": str(failed.error)})
            raise failed.error from None
        finally:
            # The app's own start-up failed after ours, or it ended without a shutdown message:
            # nothing else would close what this middleware started.
            await close_started()
