"""The one place where a refusal becomes an HTTP response, a WebSocket close, or an HTTPException.

RFC 6750 §3: every 401 and 403 carries `WWW-Authenticate: Bearer realm="..."`, with `error` and
`error_description` when the request carried a token; a step-up refusal adds RFC 9470's
`acr_values` or `max_age`.
"""

from __future__ import annotations

import json
import re
from typing import Final

from starlette.types import Send

from fastapi_kc._errors import AuthError, InsufficientScopeError, header_safe

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
    return json.dumps({"detail": error.description, "error": error.error or "unauthorized"}).encode()


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
