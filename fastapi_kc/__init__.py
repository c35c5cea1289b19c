"""fastapi_kc: trust Keycloak access tokens in FastAPI and Starlette.

Strict by default (issuer, audience, expiry, token type, algorithm), fast (local verification
against the realm's cached keys), and loud about misconfiguration at start-up.
"""

from fastapi_kc._auth import KeycloakAuth
from fastapi_kc._errors import (
    AuthError,
    ConfigurationError,
    InsufficientScopeError,
    InsufficientUserAuthenticationError,
    InvalidRequestError,
    InvalidTokenError,
    KeycloakError,
    KeysUnavailableError,
    MissingTokenError,
    TokenRequestError,
    UnavailableError,
)
from fastapi_kc._health import Health
from fastapi_kc._middleware import KeycloakMiddleware
from fastapi_kc._principal import Principal
from fastapi_kc._service_token import ServiceTokenAuth, ServiceTokenClient
from fastapi_kc._settings import KeycloakSettings

__all__ = [
    "AuthError",
    "ConfigurationError",
    "Health",
    "InsufficientScopeError",
    "InsufficientUserAuthenticationError",
    "InvalidRequestError",
    "InvalidTokenError",
    "KeycloakAuth",
    "KeycloakError",
    "KeycloakMiddleware",
    "KeycloakSettings",
    "KeysUnavailableError",
    "MissingTokenError",
    "Principal",
    "ServiceTokenAuth",
    "ServiceTokenClient",
    "TokenRequestError",
    "UnavailableError",
]
__version__ = "0.1.0"
