"""The routes users mount: login, callback, refresh, logout (under `login.prefix`, `/auth`).

Every failure answers with a 4xx (or 503 when Keycloak is unreachable) and a sentence saying what
to do; Keycloak's error code is named, its tokens and the client secret never are.

The body is the core's, `{"detail": "<sentence>"}`. A refusal that is an `AuthError` (a CSRF
check, no login session, an unreachable session store) also gets the core's headers, so its
RFC 6750 code travels in `WWW-Authenticate` as on every other route; the callback's 400s are no
bearer challenge (the browser presented no token), and their sentence names Keycloak's code.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ParamSpec

from authlib.integrations.base_client import MismatchingStateError, OAuthError
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from fastapi_kc import AuthError, MissingTokenError
from fastapi_kc._responses import refusal_headers
from fastapi_kc._text import printable
from fastapi_kc.login import _csrf as csrf
from fastapi_kc.login._keycloak import UNREACHABLE
from fastapi_kc.login._session import LoginSession, new_secret

if TYPE_CHECKING:
    from fastapi_kc.login._login import BrowserLogin

logger = logging.getLogger("fastapi_kc.login")
P = ParamSpec("P")


def refusal(status: int, detail: str) -> JSONResponse:
    """A refusal that is no bearer challenge: the core's body, never cached."""
    return JSONResponse({"detail": detail}, status_code=status, headers={"Cache-Control": "no-store"})


def auth_refusal(error: AuthError, realm: str) -> JSONResponse:
    """`error` answered as the core answers it: `{"detail"}` and the RFC 6750 challenge headers."""
    return JSONResponse({"detail": error.description}, status_code=error.status_code,
                        headers=refusal_headers(error, realm))  # fmt: skip


def refusing_auth_errors(realm: str) -> Callable[[Callable[P, Awaitable[Response]]], Callable[P, Awaitable[Response]]]:
    """An `AuthError` anywhere in a route (a CSRF refusal, an unreachable session store) as its answer."""

    def decorate(route: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
        @functools.wraps(route)  # FastAPI reads the route's parameters through __wrapped__
        async def answer(*args: P.args, **kwargs: P.kwargs) -> Response:
            try:
                return await route(*args, **kwargs)
            except AuthError as exc:
                return auth_refusal(exc, realm)

        return answer

    return decorate


def local_path(value: str | None) -> str:
    """Where to go after login: a path of this app only, never another site (open redirect)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n"):
        return "/"
    return value


def add_routes(login: BrowserLogin) -> None:
    from fastapi_kc.login._login import SessionEndedError, cookie_session

    router = login.router
    refusing_auth_errors_here = refusing_auth_errors(login.auth.settings.realm)

    @router.get("/login")
    @refusing_auth_errors_here
    async def start(request: Request, next: str = "/") -> Response:
        """Send the browser to Keycloak's login page (authorization code + PKCE S256, state, nonce)."""
        cookie = cookie_session(request.scope)
        cookie["next"] = local_path(next)
        response: Response = await login.keycloak.app.authorize_redirect(request, login.redirect_uri)
        return response

    @router.get("/callback")
    @refusing_auth_errors_here
    async def callback(request: Request) -> Response:
        """Keycloak's redirect back: redeem the code, check state and nonce, start the session."""
        cookie = cookie_session(request.scope)
        try:
            token = await login.keycloak.app.authorize_access_token(request)
        except MismatchingStateError:
            return refusal(400, "this login was not started here or was already used: log in again")
        except OAuthError as exc:
            # `error` is read from the callback's query string, which anyone can write: escaped and bounded.
            code = printable(exc.error, 80)
            logger.info("login refused: %s", code)
            return refusal(400, f"Keycloak refused the login ({code}): log in again")
        except JoseError as exc:
            logger.warning("login refused: the ID token failed its checks (%s)", exc.error)
            return refusal(400, f"the ID token failed its checks ({exc.error}): log in again")
        except UNREACHABLE as exc:
            logger.warning("login failed: Keycloak unreachable (%s)", type(exc).__name__)
            return refusal(503, "Keycloak cannot be reached: retry shortly")
        if "userinfo" not in token:  # no ID token, so no nonce was checked
            return refusal(400, "Keycloak sent no ID token: the client needs the openid scope")
        try:
            session = LoginSession.from_token_response(token, login.clock(), new_secret())
            await login.auth.verify(session.access_token)
        except ValueError:
            return refusal(400, "Keycloak sent no access token")
        except AuthError as exc:
            if exc.status_code == 503:
                raise  # the keys cannot be fetched now: retry, nothing is wrong with the login
            # A login whose token this API refuses would loop between here and Keycloak: say why.
            return refusal(400, f"the login gave a token this API does not accept: {exc.description}")
        previous = cookie.get("sid")
        if isinstance(previous, str):
            await login.end(previous, cookie)
        target = local_path(cookie.get("next"))
        cookie.clear()
        session_id = new_secret()  # a fresh id at every login: no session fixation
        await login.save(session_id, session)
        cookie["sid"] = session_id
        return RedirectResponse(target, status_code=303)

    @router.post("/refresh")
    @refusing_auth_errors_here
    async def refresh(request: Request) -> Response:
        """Refresh the session's access token now (a page's script may call it); CSRF-checked."""
        cookie = cookie_session(request.scope)
        session_id = cookie.get("sid")
        if not isinstance(session_id, str):  # no credentials at all: RFC 6750 §3.1, no error code
            raise MissingTokenError("no login session: log in first", reason="no_session")
        session = await login.load(session_id)
        if session is None:
            raise SessionEndedError("no login session: log in first", reason="session_ended")
        csrf.check_origin(request.scope["headers"], login.allowed_origins)
        csrf.check_token(csrf.header_token(request.scope["headers"]), session.csrf_token)
        session = await login.fresh(session_id, session, cookie, force=True)
        return JSONResponse(
            {"expires_in": int(session.expires_at - login.clock())}, headers={"Cache-Control": "no-store"}
        )

    @router.post("/logout")
    @refusing_auth_errors_here
    async def logout(request: Request) -> Response:
        """End the session here and at Keycloak (RP-initiated logout with `id_token_hint`)."""
        cookie = cookie_session(request.scope)
        form = await request.form()
        requested = form.get("next")
        target = login._absolute(requested) if isinstance(requested, str) and requested else None
        target = target or min(login.post_logout_redirects)
        if target not in login.post_logout_redirects:
            return refusal(400, "the page to return to after logout is not in the allow-list")
        session_id = cookie.get("sid")
        session = await login.load(session_id) if isinstance(session_id, str) else None
        if session is None or not isinstance(session_id, str):
            cookie.clear()
            return RedirectResponse(target, status_code=303)
        sent = form.get(csrf.CSRF_FIELD)
        csrf.check_origin(request.scope["headers"], login.allowed_origins)
        csrf.check_token(sent if isinstance(sent, str) else csrf.header_token(request.scope["headers"]),
                         session.csrf_token)  # fmt: skip
        await login.end(session_id, cookie)
        logout_url = await login.keycloak.app.create_logout_url(
            post_logout_redirect_uri=target, id_token_hint=session.id_token, client_id=login.keycloak.client_id
        )
        return RedirectResponse(logout_url["url"], status_code=303)
