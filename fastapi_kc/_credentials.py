"""Where a request's access token may come from besides its `Authorization` header.

`KeycloakMiddleware(credentials=...)` takes a `CredentialSource`: for a request without an
Authorization header it is asked for a token, which then goes through the same `auth.verify` as
a bearer token. `fastapi_kc.login.BrowserLogin.credentials` is one (the browser's session
cookie); the core knows nothing more about it. Without a source, cookies are never read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Protocol

from starlette.types import Scope

#: Where the middleware keeps a token that came from a credential source, for dependencies that must
#: send the token itself on (`require_active` introspects it); the request's headers stay as sent.
CREDENTIAL_SCOPE_KEY: Final = "fastapi_kc.credential_token"


class CredentialSource(Protocol):
    """`async (scope) -> token | None`: None when the request carries no such credential.

    It may raise `AuthError` to refuse the request (an ended session, a forged cross-site request).
    """

    async def __call__(self, scope: Scope, /) -> str | None: ...


def has_authorization(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """True when the request sends an Authorization header: then only that header counts."""
    return any(name.lower() == b"authorization" for name, _ in headers)


def request_token(scope: Scope) -> str | None:
    """The token a request was authenticated with when it came from a credential source, else None."""
    token = scope.get(CREDENTIAL_SCOPE_KEY)
    return token if isinstance(token, str) else None
