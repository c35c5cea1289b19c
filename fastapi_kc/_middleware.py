"""`KeycloakMiddleware`: pure ASGI, for HTTP and WebSocket; lifespan and other scopes pass through.

Every request outside `public_paths` needs a valid bearer token. The `Principal` goes into
`scope["user"]` (so `request.user` / `websocket.user`) and Starlette's `AuthCredentials` into
`scope["auth"]` (so `@requires("realm:admin")` works). The route dependencies of
`KeycloakAuth` find it there and do not verify twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_kc._auth import KeycloakAuth
from fastapi_kc._errors import AuthError, ConfigurationError
from fastapi_kc._principal import Principal
from fastapi_kc._responses import send_http_refusal, send_websocket_refusal
from fastapi_kc._websocket_guard import guard_websocket


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


def _checked_paths(public_paths: Iterable[str]) -> list[str]:
    """`public_paths` as a list, refusing what would open more than was meant.

    A bare string would be split into its characters, making `/` public; a path without a
    leading `/` never matches anything, which hides a typo; `*` is only a final `/*` prefix
    mark (no globs, no regular expressions).
    """
    if isinstance(public_paths, str | bytes):
        raise TypeError(f"public_paths must be a list of paths, e.g. [{public_paths!r}], not a string")
    paths = list(public_paths)
    for path in paths:
        if not isinstance(path, str):
            raise TypeError(f"public_paths: every path must be a string, got {path!r}")
        if not path.startswith("/"):
            raise ValueError(f"public_paths: {path!r} must start with '/'")
        if "*" in path.removesuffix("/*"):
            raise ValueError(f"public_paths: {path!r}: '*' is allowed only as a final '/*' (a prefix)")
    return paths


class _StartupFailedError(Exception):
    """Carries a start-up failure out of the wrapped `receive` to the middleware's lifespan branch."""

    def __init__(self, error: ConfigurationError) -> None:
        super().__init__(str(error))
        self.error = error


class KeycloakMiddleware:
    """Refuse every HTTP and WebSocket request without a valid token, except `public_paths`.

    `public_paths` holds exact paths (`/health`) and prefixes written `/static/*` (which also
    matches `/static` itself). On a public path a request still has a user, as with Starlette's
    `AuthenticationMiddleware`: the `Principal` of a valid token (optional authentication), or
    `UnauthenticatedUser` with empty `AuthCredentials` when there is no token or a bad one.
    The middleware also starts and stops `auth` with the application's lifespan, so a forgotten
    `lifespan=auth.lifespan` cannot leave it unstarted.

    Raises:
        TypeError: `public_paths` is a string (a list of paths was meant) or holds a non-string.
        ValueError: a public path does not start with `/`, or has `*` anywhere but a final `/*`.
    """

    def __init__(self, app: ASGIApp, *, auth: KeycloakAuth, public_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.auth = auth
        paths = _checked_paths(public_paths)
        self._exact = frozenset(p for p in paths if not p.endswith("/*"))
        self._prefixes = tuple(p[:-2] for p in paths if p.endswith("/*"))

    def is_public(self, path: str) -> bool:
        if path in self._exact:
            return True
        return any(path == prefix or path.startswith(f"{prefix}/") for prefix in self._prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            try:
                await self.app(scope, self._lifespan_receive(receive, scope.get("app")), send)
            except _StartupFailedError as failed:
                # Raised inside the app's `receive`, before its own error handling: tell the
                # server here, so it stops instead of serving with authentication not started.
                await send({"type": "lifespan.startup.failed", "message": str(failed.error)})
                raise failed.error from None
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        # `auth.public_paths`: routes only Keycloak calls (back-channel logout), public by construction.
        if self.is_public(path) or path in self.auth.public_paths:
            await self._serve_public(scope, receive, send)
            return
        try:
            principal = await self.auth.authenticate(scope["headers"])
        except AuthError as exc:
            if kind == "http":
                await send_http_refusal(send, exc, self.auth.settings.realm)
            else:
                await send_websocket_refusal(send, exc)
            return
        scope["user"] = principal
        scope["auth"] = _Credentials(principal)
        if kind == "websocket":
            # Closed with 1008 once its session is revoked (or its token expires, if asked).
            await guard_websocket(self.app, scope, receive, send, principal=principal, **self.auth.websocket_guard)
            return
        await self.app(scope, receive, send)

    async def _serve_public(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A public path: anyone may come in; a valid token still says who they are."""
        try:
            principal = await self.auth.authenticate(scope["headers"])
        except AuthError:
            # No token, a bad one, or Keycloak unreachable: a public path answers anyway,
            # to an anonymous caller. The refusal is logged by the verifier as usual.
            scope["user"] = UnauthenticatedUser()
            scope["auth"] = AuthCredentials()
        else:
            scope["user"] = principal
            scope["auth"] = _Credentials(principal)
        await self.app(scope, receive, send)

    def _lifespan_receive(self, receive: Receive, app: object) -> Receive:
        started = False

        async def wrapped() -> Message:
            nonlocal started
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.auth.start()
                except ConfigurationError as exc:
                    raise _StartupFailedError(exc) from exc
                started = True
                self.auth.document_openapi(app)  # the login and the refusals in the app's OpenAPI
            elif message["type"] == "lifespan.shutdown" and started:
                started = False
                await self.auth.close()
            return message

        return wrapped
