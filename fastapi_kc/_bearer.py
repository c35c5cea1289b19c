"""The bearer token of a request, read from its `Authorization` header only (RFC 6750 §2.1).

Tokens in the query string (§2.3) are never read: they end up in access logs and browser
history. The scheme name is case-insensitive (RFC 9110 §11.1); anything else about the
header is strict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from fastapi_kc._errors import InvalidRequestError, MissingTokenError

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN_CHARS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
AUTHORIZATION: Final = b"authorization"


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The token of the one `Authorization: Bearer <token>` header among raw ASGI headers.

    Raises:
        MissingTokenError: no Authorization header, or one of another scheme (e.g. Basic).
        InvalidRequestError: several Authorization headers, or a malformed bearer token.
    """
    values = [value for name, value in headers if name.lower() == AUTHORIZATION]
    if not values:
        raise MissingTokenError("a bearer token is required", reason="no_token")
    if len(values) > 1:
        raise InvalidRequestError("more than one Authorization header", reason="header_repeated")
    scheme, _, token = values[0].strip(b" ").partition(b" ")
    if scheme.lower() != b"bearer":
        raise MissingTokenError("a bearer token is required", reason="other_scheme")
    token = token.strip(b" ")
    if not token:
        raise InvalidRequestError("the bearer token is empty", reason="header_malformed")
    # Deleting every allowed byte must leave nothing: one pass in C, where a regex over a
    # kilobyte-long token costs more than the rest of a cached verification.
    body = token.rstrip(b"=")
    if not body or body.translate(None, _B64TOKEN_CHARS):
        raise InvalidRequestError("the bearer token has illegal characters", reason="header_malformed")
    return token.decode("ascii")
