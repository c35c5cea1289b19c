"""How `KeycloakAuth` shows in OpenAPI (and so in Swagger UI), at no cost per request.

FastAPI solves every dependency of a route's tree on every request, and declares a security
scheme in OpenAPI for each dependency that is a `SecurityBase`. A dependency that only declares
a scheme (FastAPI's own `HTTPBearer`, or a Keycloak login) is one more dependency solved per
request. So `auth.principal` *is* the bearer scheme (`PrincipalScheme`): one dependency, where
`Depends(HTTPBearer())` plus a lookup of one's own makes two.

What a dependency cannot declare is added to the application's OpenAPI document when it is
built (`document`, installed at start-up by `auth.lifespan` and `KeycloakMiddleware`): the
Keycloak login (`LoginScheme`) next to the bearer field of every operation using the auth,
with the same scopes; the scopes a client may ask the login for; and the refusals (401, 403,
503, with their body and challenge).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import SecurityBase as SecurityModel
from fastapi.security import HTTPBearer, OAuth2AuthorizationCodeBearer
from fastapi.security.base import SecurityBase
from starlette.routing import Mount

from fastapi_kc._errors import ConfigurationError
from fastapi_kc._settings import KeycloakSettings

_NOT_IN_NAME: Final = re.compile(r"[^A-Za-z0-9.\-_]+")  # OpenAPI 3.1 component names: ^[a-zA-Z0-9.\-_]+$
_STANDARD_SCOPES: Final = {
    "openid": "OpenID Connect: who you are (required for the login)",
    "profile": "your name and user name",
    "email": "your e-mail address",
}
_BODY: Final = {
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "what is wrong, in a sentence"},
        "error": {"type": "string", "description": "the RFC 6750 error code (e.g. invalid_token)"},
    },
    "required": ["detail"],
}
_CHALLENGE: Final = {
    "WWW-Authenticate": {
        "description": 'RFC 6750 challenge: Bearer realm="...", error="...", error_description="..."',
        "schema": {"type": "string"},
    }
}
_INSTALLED: Final = "_fastapi_kc_openapi"  # on an app: bearer scheme name -> login, once wrapped
REFUSALS: Final = {
    401: "No bearer token, or one that is malformed, expired, forged or not for this API",
    403: "A valid token without a role or scope the route requires (insufficient_scope)",
    503: "The token's key is unknown and Keycloak cannot be reached; retry after Retry-After seconds",
}


def scheme_names(settings: KeycloakSettings, scheme_name: str | None) -> tuple[str, str]:
    """(bearer, login) scheme names: `KeycloakBearer.<name>`, `KeycloakLogin.<name>`.

    `<name>` is `scheme_name`, or by default the realm and the audiences, so that two auths in
    one application (two realms, or two audiences) never share a name and overwrite each
    other's scheme in Swagger UI.

    Raises:
        ConfigurationError: `scheme_name` holds characters OpenAPI does not allow in a name.
    """
    if scheme_name is None:
        parts = (settings.realm, *settings.audience)
        name = ".".join(_NOT_IN_NAME.sub("_", part) for part in parts)
    elif isinstance(scheme_name, str) and scheme_name and not _NOT_IN_NAME.search(scheme_name):
        name = scheme_name
    else:
        raise ConfigurationError(
            f"scheme_name must be letters, digits, '.', '-' or '_' (an OpenAPI name), not {scheme_name!r}"
        )
    return f"KeycloakBearer.{name}", f"KeycloakLogin.{name}"


class LoginScheme:
    """Swagger UI's Keycloak login (authorization code + PKCE): declared, never solved."""

    def __init__(self, settings: KeycloakSettings, scheme_name: str) -> None:
        declared = OAuth2AuthorizationCodeBearer(
            authorizationUrl=settings.authorization_url,
            tokenUrl=settings.browser_token_url,
            scheme_name=scheme_name,
            scopes=dict(_STANDARD_SCOPES),
            description=f"Log in with Keycloak realm {settings.realm!r} (authorization code with PKCE, public client)",
        )
        self.model: SecurityModel = declared.model
        self.scheme_name = scheme_name

    def definition(self, scopes: Iterable[str]) -> dict[str, Any]:
        """The scheme's OpenAPI object, offering the standard scopes and `scopes`."""
        definition: dict[str, Any] = jsonable_encoder(self.model, by_alias=True, exclude_none=True)
        offered = definition["flows"]["authorizationCode"].setdefault("scopes", {})
        for scope in scopes:
            offered.setdefault(scope, "required by a route of this API")
        return definition


class PrincipalScheme(SecurityBase):
    """A dependency finding the caller that is itself, in OpenAPI, the bearer scheme.

    Subclasses define `__call__`; FastAPI reads its signature for what to pass.
    """

    def __init__(self, settings: KeycloakSettings, scheme_name: str) -> None:
        declared = HTTPBearer(
            scheme_name=scheme_name,
            bearerFormat="JWT",
            description=f"An access token of Keycloak realm {settings.realm!r} for audience "
            f"{', '.join(settings.audience)}",
        )
        self.model: SecurityModel = declared.model
        self.scheme_name = scheme_name


# --- added to the application's OpenAPI document ----------------------------------------------------


def _apps(app: Any) -> Iterator[Any]:
    """`app` and the applications mounted in it that make their own OpenAPI document."""
    if callable(getattr(app, "openapi", None)):
        yield app
    for route in getattr(app, "routes", None) or []:
        if isinstance(route, Mount):
            yield from _apps(route.app)


def _operations(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in (schema.get("paths") or {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                yield operation


def _complete(schema: dict[str, Any], bearer: str, login: LoginScheme) -> None:
    """Each operation using `bearer`: the login beside it, same scopes; and the refusals."""
    wanted: dict[str, None] = {}
    used = False
    for operation in _operations(schema):
        security: list[dict[str, list[str]]] = operation.get("security") or []
        uses = [(i, requirement[bearer]) for i, requirement in enumerate(security) if bearer in requirement]
        if not uses:
            continue
        used = True
        if not any(login.scheme_name in requirement for requirement in security):
            for i, scopes in reversed(uses):
                security.insert(i + 1, {login.scheme_name: list(scopes)})
        wanted.update(dict.fromkeys(scope for _, scopes in uses for scope in scopes))
        responses = operation.setdefault("responses", {})
        for status, description in REFUSALS.items():
            responses.setdefault(str(status), {
                "description": description,
                "headers": _CHALLENGE,
                "content": {"application/json": {"schema": _BODY}},
            })  # fmt: skip
    if used:
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[login.scheme_name] = login.definition(wanted)


def document(app: Any, bearer: str, login: LoginScheme) -> None:
    """Have `app`'s OpenAPI document (and its mounted apps') show `login` and the refusals.

    Wraps `app.openapi` (FastAPI's documented way to extend the schema) once per auth; the
    additions are made each time the document is built, so routes added later get them too.
    A route's own description of a status (`responses={403: ...}`) is kept.
    """
    for target in _apps(app):
        installed: dict[str, LoginScheme] | None = getattr(target, _INSTALLED, None)
        if installed is None:
            installed = {}
            build = target.openapi

            def openapi(
                build: Callable[[], dict[str, Any]] = build, logins: dict[str, LoginScheme] = installed
            ) -> dict[str, Any]:
                schema = build()
                for bearer_name, login_scheme in logins.items():
                    _complete(schema, bearer_name, login_scheme)
                return schema

            setattr(target, _INSTALLED, installed)
            target.openapi = openapi
        installed[bearer] = login
        if getattr(target, "openapi_schema", None) is not None:
            target.openapi_schema = None  # built again, with the additions, when next asked for
