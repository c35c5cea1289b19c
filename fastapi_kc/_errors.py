"""The exception tree of fastapi_kc.

    KeycloakError                      every error this library raises
    ├── ConfigurationError (ValueError) settings or Keycloak set-up that cannot work; raised at start
    ├── TokenRequestError              Keycloak refused or failed a client-credentials request
    └── AuthError                      a request that must be refused; carries its HTTP answer
        ├── MissingTokenError          401, no bearer token at all (RFC 6750 §3.1: no error code)
        ├── InvalidRequestError        401 invalid_request: a malformed Authorization header
        ├── InvalidTokenError          401 invalid_token: expired, forged, wrong issuer/audience...
        ├── InsufficientScopeError     403 insufficient_scope: valid token, missing role or scope
        ├── InsufficientUserAuthenticationError  401: authentication too weak or too old (step-up)
        ├── KeysUnavailableError       503 temporarily_unavailable: key unknown and Keycloak unreachable
        └── UnavailableError           503 temporarily_unavailable: introspection or revocation state unavailable

Each `AuthError` knows its status and RFC 6750 code, and a `reason` code for logs and metrics.
Descriptions are short fixed sentences: never token bytes, never quotes or line breaks, so
they can go into a `WWW-Authenticate` header as they are.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from types import MappingProxyType

# RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E (no '"' and no '\').
_NOT_IN_DESCRIPTION = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
_MAX_DESCRIPTION = 200


def header_safe(text: str) -> str:
    """`text` reduced to what RFC 6750 allows in `error_description`, and kept short."""
    return _NOT_IN_DESCRIPTION.sub("?", text)[:_MAX_DESCRIPTION]


class KeycloakError(Exception):
    """Base of every error raised by fastapi_kc."""


class ConfigurationError(KeycloakError, ValueError):
    """Settings, or the Keycloak they point at, cannot work. Raised when the service starts.

    The message names what was expected, what was found, and the variable or Keycloak option
    to change.
    """


class TokenRequestError(KeycloakError):
    """Keycloak's token endpoint refused or failed a client-credentials request.

    `status_code` is Keycloak's HTTP status (None when it could not be reached) and `error` its
    OAuth error code. The client secret is never part of the message.
    """

    def __init__(self, message: str, *, status_code: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error


class AuthError(KeycloakError):
    """A request that must be refused, with the HTTP status and RFC 6750 error it answers with.

    An application's exception handler for `AuthError` shapes the refusals of the middleware
    and of the dependencies alike. The error it receives also carries `headers`: the
    `WWW-Authenticate` challenge (and `Retry-After` for a 503) that the response must keep.
    """

    status_code: int = 401
    error: str = "invalid_token"
    headers: dict[str, str] | None = None
    # For the refusal's log line only, never for the client; set where the cause is known (the
    # verifier): the level, the doctor's explanation, and fields a log pipeline indexes (`kid`,
    # `issuer`, `subject`, `client`), claim values escaped.
    log_level: int = logging.INFO
    log_detail: str | None = None
    log_fields: Mapping[str, object] = MappingProxyType({})
    recorded: bool = False  # logged and counted already: each refusal is recorded once

    def __init__(self, description: str, *, reason: str = "invalid") -> None:
        self.description = header_safe(description)
        self.reason = reason
        super().__init__(self.description)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, error={self.error!r}, reason={self.reason!r})"

    def challenge_parameters(self) -> dict[str, str]:
        """Extra `WWW-Authenticate` parameters beyond realm, error and error_description."""
        return {}


class MissingTokenError(AuthError):
    """No bearer token was sent. RFC 6750 §3.1: the challenge then carries no error code."""

    status_code = 401
    error = ""


class InvalidRequestError(AuthError):
    """The Authorization header is malformed (two of them, illegal characters, empty token).

    RFC 6750 suggests 400 for invalid_request; every refusal of credentials here is a 401 so that
    clients see one consistent challenge.
    """

    status_code = 401
    error = "invalid_request"


class InvalidTokenError(AuthError):
    """The token is expired, revoked, malformed, forged, or not meant for this API."""

    status_code = 401
    error = "invalid_token"


class InsufficientScopeError(AuthError):
    """The token is valid but lacks a role, scope or client this endpoint requires.

    `scope` lists the OAuth scopes that were missing, for the challenge's `scope` attribute
    (RFC 6750 §3); empty when what is missing is a role.
    """

    status_code = 403
    error = "insufficient_scope"

    def __init__(self, description: str, *, reason: str = "forbidden", scope: tuple[str, ...] = ()) -> None:
        super().__init__(description, reason=reason)
        self.scope = scope


class InsufficientUserAuthenticationError(AuthError):
    """The user's authentication is too weak (`acr`) or too old (`auth_time`): log in again, stronger.

    RFC 9470 §3: 401 with `error="insufficient_user_authentication"` and the `acr_values` and/or
    `max_age` the client should ask the authorization server for.
    """

    status_code = 401
    error = "insufficient_user_authentication"

    def __init__(
        self, description: str, *, acr_values: tuple[str, ...] = (), max_age: int | None = None, reason: str = "step_up"
    ) -> None:
        super().__init__(description, reason=reason)
        self.acr_values = acr_values
        self.max_age = max_age

    def challenge_parameters(self) -> dict[str, str]:
        parameters = {}
        if self.acr_values:
            parameters["acr_values"] = header_safe(" ".join(self.acr_values))
        if self.max_age is not None:
            parameters["max_age"] = str(self.max_age)
        return parameters


class KeysUnavailableError(AuthError):
    """The token's key is not known and Keycloak cannot be reached to learn it: retry later."""

    status_code = 503
    error = "temporarily_unavailable"


class UnavailableError(AuthError):
    """The token cannot be judged now (introspection or revocation state unavailable): retry later.

    Keycloak's introspection endpoint did not answer, or the shared revocation store has been
    unreachable for longer than `revocation_max_stale_seconds`.
    """

    status_code = 503
    error = "temporarily_unavailable"
