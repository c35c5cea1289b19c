"""Cross-site request forgery and cross-site WebSocket hijacking, for cookie-authenticated requests.

A browser attaches the session cookie to requests that other sites make it send. Two checks,
both required for every state-changing request (any method but GET, HEAD, OPTIONS) that is
authenticated by the cookie:
- its `Origin` (or, when a browser omits it, the origin of its `Referer`) is one of the allowed
  origins: a page of another site cannot forge it (OWASP CSRF cheat sheet, "Verifying Origin");
- it carries the session's CSRF token (header `X-CSRF-Token`, or form field `csrf_token` for the
  login routes' own forms), a secret kept on the server with the session and shown only to the
  session's own pages (the synchronizer token pattern), compared in constant time.
The cookie itself is `SameSite=Lax`, which already keeps it off cross-site POSTs in current
browsers; these checks do not rely on that.
A WebSocket handshake is a GET, but browsers send any site's handshake with cookies: its
`Origin` must be allowed (RFC 6455 §10.2).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from fastapi_kc import AuthError

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER: Final = b"x-csrf-token"
CSRF_FIELD: Final = "csrf_token"


class CsrfError(AuthError):
    """403: a cookie-authenticated request that its own site's pages did not send."""

    status_code = 403
    error = "invalid_request"


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]`, lower-cased, default ports dropped; None for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def allowed_origins(origins: Iterable[str]) -> frozenset[str]:
    """The allow-list, normalised. Raises ValueError naming an entry that is not an origin."""
    result = set()
    for entry in origins:
        origin = origin_of(entry)
        if origin is None:
            raise ValueError(f"{entry!r} is not an origin like https://shop.example.com")
        result.add(origin)
    return frozenset(result)


def _one_header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    values = [value for key, value in headers if key.lower() == name]
    if len(values) != 1:  # absent, or repeated: neither can be trusted
        return None
    return values[0].decode("latin-1")


def request_origin(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Where the request comes from: `Origin`, else the `Referer`'s origin; None when unknown."""
    headers = list(headers)
    origin = _one_header(headers, b"origin")
    if origin is not None and origin != "null":
        return origin_of(origin)
    if origin is None:
        referer = _one_header(headers, b"referer")
        if referer is not None:
            return origin_of(referer)
    return None  # "null": a sandboxed or privacy-sensitive context, never trusted


def check_origin(headers: Iterable[tuple[bytes, bytes]], allowed: frozenset[str]) -> None:
    """Raises CsrfError unless the request's origin is allowed."""
    origin = request_origin(headers)
    if origin is None:
        raise CsrfError("the request does not say which site sent it (no Origin header)", reason="csrf_no_origin")
    if origin not in allowed:
        raise CsrfError("the request comes from a site that is not allowed", reason="csrf_origin")


def check_token(sent: str | None, expected: str) -> None:
    """Raises CsrfError unless `sent` is the session's CSRF token."""
    if not sent:
        raise CsrfError("the CSRF token is missing (header X-CSRF-Token)", reason="csrf_missing")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfError("the CSRF token does not match this session", reason="csrf_mismatch")


def header_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    return _one_header(headers, CSRF_HEADER)
