"""The bearer token of a request, read from its `Authorization` header only (RFC 6750 §2.1).

Tokens in the query string (§2.3) are never read: they end up in access logs and browser
history. The scheme name is case-insensitive (RFC 9110 §11.1); anything else about the
header is strict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from fastapi_kc._errors import InvalidRequestError, MissingTokenError

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_AUTHORIZATION: Final = b"authorization"


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The token of the one `Authorization: Bearer <token>` header among raw ASGI headers.

    Raises:
        MissingTokenError: no Authorization header, or one of another scheme (e.g. Basic).
        InvalidRequestError: several Authorization headers, or a malformed bearer token.
    """
    values = [value for name, value in headers if name.lower() == _AUTHORIZATION]
    if not values:
        raise MissingTokenError("a bearer token is required", reason="no_token")
    if len(values) > 1:
        raise InvalidRequestError("more than one Authorization header", reason="header_repeated")
    try:
        text = values[0].decode("ascii")
    except UnicodeDecodeError:
        raise InvalidRequestError("Authorization header is not ASCII", reason="header_malformed") from None
    scheme, _, token = text.strip(" ").partition(" ")
    if scheme.lower() != "bearer":
        raise MissingTokenError("a bearer token is required", reason="other_scheme")
    token = token.strip(" ")
    if not token:
        raise InvalidRequestError("the bearer token is empty", reason="header_malformed")
    if not _B64TOKEN.fullmatch(token):
        raise InvalidRequestError("the bearer token has illegal characters", reason="header_malformed")
    return token
