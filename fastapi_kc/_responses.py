"""The one place where a refusal becomes an HTTP response, a WebSocket close, or an HTTPException.

RFC 6750 §3: every 401 and 403 carries `WWW-Authenticate: Bearer realm="..."`, with `error` and
`error_description` when the request carried a token; a step-up refusal adds RFC 9470's
`acr_values` or `max_age`.

One body in both forms, FastAPI's `{"detail": "<description>"}`: the dependencies raise an
`HTTPException`, which FastAPI's default handler answers that way, and the middleware writes the
same bytes itself. The RFC 6750 `error` code is in the challenge, in both forms. An application
that wants another body registers an exception handler for `AuthError`: the dependencies raise
an exception that is both the `AuthError` and Starlette's `HTTPException` (so without such a
handler FastAPI's default applies), and the middleware looks the handler up in the app too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final, cast

from starlette.exceptions import HTTPException
from starlette.types import Send

from fastapi_kc._errors import AuthError, InsufficientScopeError, KeycloakError, header_safe

POLICY_VIOLATION: Final = 1008  # RFC 6455 §7.4.1: the WebSocket close code for a refused policy
_MAX_CLOSE_REASON: Final = 123  # RFC 6455 §5.5: control frames carry at most 125 bytes
# RFC 6750 §3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), space-separated in `scope`.
_NOT_IN_SCOPE_TOKEN: Final = re.compile(r"[^\x21\x23-\x5b\x5d-\x7e]")


def challenge(error: AuthError, realm: str) -> str:
    """The `WWW-Authenticate` value for `error`."""
    value = f'Bearer realm="{header_safe(realm)}"'
    if error.error:
        value += f', error="{error.error}", error_description="{error.description}"'
    if isinstance(error, InsufficientScopeError) and error.scope:
        # RFC 6750 §3: `scope` names the scopes the request lacked, so a client knows what to ask for.
        value += f', scope="{" ".join(_NOT_IN_SCOPE_TOKEN.sub("?", s) for s in error.scope)}"'
    for name, parameter in error.challenge_parameters().items():
        value += f', {name}="{parameter}"'
    return value


def refusal_headers(error: AuthError, realm: str) -> dict[str, str]:
    headers = {"WWW-Authenticate": challenge(error, realm), "Cache-Control": "no-store"}
    if error.status_code == 503:
        headers["Retry-After"] = "5"
    return headers


def refusal_body(error: AuthError) -> bytes:
    """FastAPI's body for an `HTTPException`: what the dependencies answer, byte for byte
    (Starlette's `JSONResponse` rendering)."""
    return json.dumps({"detail": error.description}, ensure_ascii=False, separators=(",", ":")).encode()


def _init_http_form(self: Any, error: AuthError, headers: dict[str, str]) -> None:
    self.__dict__.update(vars(error))  # description, reason, and what a subclass adds (scope, acr...)
    HTTPException.__init__(self, error.status_code, detail=error.description, headers=headers)


HTTPForm = Callable[[AuthError, dict[str, str]], HTTPException]
_HTTP_FORMS: dict[type[AuthError], HTTPForm] = {}


def _http_form_class(kind: type[AuthError]) -> HTTPForm:
    """`kind` (e.g. `InsufficientScopeError`) that is also Starlette's `HTTPException`.

    The `AuthError` class comes first in the MRO, so an application's handler for `AuthError`
    (or for `kind`) is found before FastAPI's default one for `HTTPException`.
    """
    form = _HTTP_FORMS.get(kind)
    if form is None:
        namespace = {"__init__": _init_http_form, "__module__": kind.__module__, "__qualname__": kind.__qualname__}
        form = _HTTP_FORMS[kind] = cast(HTTPForm, type(kind.__name__, (kind, HTTPException), namespace))
    return form


def http_form(error: AuthError, realm: str) -> HTTPException:
    """`error` raised as FastAPI raises refusals: an `HTTPException` with the challenge headers,
    that is also an instance of `error`'s own class."""
    return _http_form_class(type(error))(error, refusal_headers(error, realm))


def app_handler(app: object, error: AuthError) -> Any:
    """The application's exception handler for `error`'s class (or a base up to `KeycloakError`)."""
    handlers = getattr(app, "exception_handlers", None)
    if not handlers:
        return None
    for kind in type(error).__mro__:
        handler = handlers.get(kind)
        if handler is not None or kind is KeycloakError:
            return handler
    return None


async def send_http_refusal(send: Send, error: AuthError, realm: str) -> None:
    body = refusal_body(error)
    headers = [(k.lower().encode(), v.encode()) for k, v in refusal_headers(error, realm).items()]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_websocket_refusal(send: Send, error: AuthError) -> None:
    """Close the handshake with 1008; servers answer a close before accept with HTTP 403."""
    reason = f"{error.status_code} {error.error or 'unauthorized'}: {error.description}"
    await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": reason[:_MAX_CLOSE_REASON]})
