"""The log lines of refusals: one human sentence, and fields a JSON formatter can index.

Each refusal is logged once, where the request is known, with `extra` fields: `reason` and
`status` always; `method` and `path` for a request; `kid`, `issuer`, `subject` and `client`
when they explain the refusal (set by the verifier on the error). The human message is the
same as without fields. Never the token or a secret; claim values and paths are escaped, so
a control character from a client cannot forge a log line or a terminal escape
(`_text.printable`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi_kc._errors import AuthError
from fastapi_kc._text import printable

logger = logging.getLogger("fastapi_kc")


def request_fields(scope: Mapping[str, Any]) -> dict[str, str]:
    """`method` and `path` of an ASGI scope (a WebSocket handshake's method is `WEBSOCKET`)."""
    method = scope.get("method") if scope.get("type") == "http" else "WEBSOCKET"
    return {"method": printable(method or ""), "path": printable(scope.get("path", ""), 200)}


def log_refusal(error: AuthError, scope: Mapping[str, Any] | None, plain_level: int = logging.DEBUG) -> None:
    """The refusal of a token or an Authorization header, with the request's method and path if known.

    A refusal the verifier explained (`error.log_detail`) is a `token refused` line at its level;
    any other (no or a malformed header, an inactive token) a `request refused` line at `plain_level`.
    """
    fields: dict[str, object] = {"reason": error.reason, "status": error.status_code, **error.log_fields}
    if scope is not None:
        fields.update(request_fields(scope))
    if error.log_detail is None:
        # Requests without credentials are routine (browsers probe, health checks): debug by default.
        logger.log(
            plain_level,
            "request refused: reason=%s status=%d: %s",
            error.reason,
            error.status_code,
            error.description,
            extra=fields,
        )
        return
    logger.log(
        error.log_level,
        "token refused: reason=%s status=%d: %s",
        error.reason,
        error.status_code,
        error.log_detail,
        extra=fields,
    )


def log_forbidden(
    subject: str, client: str | None, refusal: str, scope: Mapping[str, Any], error: AuthError | None = None
) -> None:
    """A 403 (or a step-up 401): the token verified, its holder lacks a role, a scope or a recent
    enough login; names who, and which route."""
    reason, status = (error.reason, error.status_code) if error is not None else ("forbidden", 403)
    fields: dict[str, object] = {
        "reason": reason,
        "status": status,
        "subject": printable(subject, 200),
        "client": None if client is None else printable(client, 200),
        **request_fields(scope),
    }
    logger.info(
        "request refused: reason=%s status=%d subject=%s on %s %s: %s",
        reason,
        status,
        fields["subject"],
        fields["method"],
        fields["path"],
        refusal,
        extra=fields,
    )
