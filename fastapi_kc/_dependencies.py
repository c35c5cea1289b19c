"""The FastAPI face: dependencies and a decorator, each declaring its security scheme.

Every dependency resolves the caller once per request: if `KeycloakMiddleware` has already
verified the token with the same auth, its `Principal` (in `scope["user"]`) is reused, never
verified twice; a principal verified by another auth is not reused.
Refusals become `HTTPException`s with the RFC 6750 challenge, built in `_responses`.
"""

from __future__ import annotations

import functools
import inspect
import time
import typing
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, Final, TypeVar

from fastapi import Depends, Security
from fastapi.security import SecurityScopes
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import Scope

from fastapi_kc._errors import AuthError, InsufficientScopeError, InsufficientUserAuthenticationError, MissingTokenError
from fastapi_kc._logs import log_forbidden
from fastapi_kc._metrics import NO_METRICS, MetricsSink
from fastapi_kc._openapi import LoginScheme, PrincipalScheme, document, scheme_names
from fastapi_kc._principal import Principal
from fastapi_kc._responses import http_form
from fastapi_kc._settings import KeycloakSettings
from fastapi_kc._step_up import StepUpCheck, acr_check, auth_age_check

# (headers, scope, optional): with `optional`, a request without a bearer token is no refusal.
Authenticate = Callable[[list[tuple[bytes, bytes]], Scope, bool], Awaitable[Principal]]
CachedPrincipal = Callable[[list[tuple[bytes, bytes]]], Principal | None]
PrincipalDependency = Callable[..., Awaitable[Principal]]
F = TypeVar("F", bound=Callable[..., Any])
_DECORATOR_PARAMETER = "_fastapi_kc_principal"
_PRINCIPALS: Final = "fastapi_kc.principals"  # scope key: principals of auths other than request.user's


def no_cached_principal(headers: list[tuple[bytes, bytes]]) -> None:
    """`cached_principal` of an auth that answers nothing from its cache (not started, or
    introspecting every request): every request is authenticated in full."""


def _check_names(factory: str, kind: str, names: tuple[str, ...], client: str | None) -> None:
    """Refuse, when a dependency is defined, arguments that would make it check nothing useful."""
    if not names:
        raise ValueError(f"{factory}() needs at least one {kind}")
    for name in (*names, *(() if client is None else (client,))):
        if not isinstance(name, str) or not name:
            raise TypeError(f"{factory}(): every {kind} and client must be a non-empty string, got {name!r}")


class Dependencies:
    """FastAPI dependencies of `KeycloakAuth`; each returns the `Principal`.

    A principal counts only for the auth that verified it: `binding` is what the verifier
    binds its principals to (issuer and audiences), and a principal in `scope["user"]` bound
    to another auth (a middleware for another audience or realm) is no proof for this one.
    Then the dependency verifies the request's token itself and keeps its own principal
    beside the middleware's, in `scope["fastapi_kc.principals"]`, leaving `request.user` alone.

    Every dependency honours FastAPI's `Security(..., scopes=[...])`: the token's `scope`
    claim must hold each scope, or the answer is 403 `insufficient_scope` naming the missing
    ones in the challenge (RFC 6750 §3).
    """

    metrics: MetricsSink = NO_METRICS

    def __init__(
        self,
        settings: KeycloakSettings,
        authenticate: Authenticate,
        binding: Hashable,
        clock: Callable[[], float] = time.time,
        scheme_name: str | None = None,
    ) -> None:
        self._realm = settings.realm
        self._step_up_clock = clock
        self._authenticate = authenticate
        self.cached_principal: CachedPrincipal = no_cached_principal
        """The caller of a request whose token was verified before and is still good, else None:
        the request path's first step, synchronous (a header scan and a cache look-up, no
        coroutine). None means "authenticate", which decides, logs and refuses; it is all an
        auth that is not started, or introspects every request, answers (see `KeycloakAuth`)."""
        self._binding = binding
        bearer_name, login_name = scheme_names(settings, scheme_name)
        self._login = LoginScheme(settings, login_name)
        # Each is itself the bearer scheme in OpenAPI (see `_openapi`): one dependency solved per
        # request, where `Depends(HTTPBearer())` plus a lookup of one's own makes two; a role
        # check adds one more. The login is added to the OpenAPI document at start-up.
        self.principal: PrincipalDependency = _PrincipalDependency(self, settings, bearer_name)
        self.optional_principal: Callable[..., Awaitable[Principal | None]] = _OptionalPrincipalDependency(
            self, settings, bearer_name
        )

    @property
    def scheme_names(self) -> tuple[str, str]:
        """The names of this auth's two schemes in OpenAPI: (bearer field, Keycloak login)."""
        return typing.cast(PrincipalScheme, self.principal).scheme_name, self._login.scheme_name

    def document_openapi(self, app: Any) -> None:
        """Complete `app`'s OpenAPI document for this auth: the Keycloak login beside the bearer
        field of every route using it (with the route's scopes), the scopes the login offers,
        and the refusals (401, 403, 503) with their body.

        `auth.lifespan` and `KeycloakMiddleware` do it at start-up; call it yourself when the
        auth starts another way (`async with auth` in your own lifespan) or to export the schema
        without starting the app. Calling it again changes nothing.
        """
        document(app, self.scheme_names[0], self._login)

    def _reuse(self, scope: Scope) -> Principal | None:
        """The principal this auth already verified for the request, if any."""
        user = scope.get("user")
        if isinstance(user, Principal) and user._verified_by == self._binding:
            return user
        others: dict[Hashable, Principal] | None = scope.get(_PRINCIPALS)
        return others.get(self._binding) if others else None

    @typing.overload
    async def _resolve(self, connection: HTTPConnection) -> Principal: ...
    @typing.overload
    async def _resolve(self, connection: HTTPConnection, optional: bool) -> Principal | None: ...

    async def _resolve(self, connection: HTTPConnection, optional: bool = False) -> Principal | None:
        scope = connection.scope
        try:
            principal = await self._authenticate(scope["headers"], scope, optional)
        except MissingTokenError as exc:
            if optional:
                return None
            raise self.http_exception(exc) from exc
        except AuthError as exc:
            raise self.http_exception(exc) from exc
        self._keep(scope, principal)
        return principal

    def _known(self, scope: Scope) -> Principal | None:
        """The caller if already known without a verification (synchronous): verified by this
        auth earlier in the request (by the middleware, or another dependency), or a token found
        in the cache. None: `_resolve` decides."""
        if "user" not in scope:  # no middleware ran: the dependency form alone, the usual case
            principal = self.cached_principal(scope["headers"])
            if principal is not None:
                scope["user"] = principal  # this auth authenticates the request (see `_keep`)
            return principal
        reused = self._reuse(scope)
        if reused is not None:
            return reused
        principal = self.cached_principal(scope["headers"])
        if principal is not None:
            self._keep(scope, principal)
        return principal

    def _keep(self, scope: Scope, principal: Principal) -> None:
        if "user" not in scope:
            scope["user"] = principal  # no middleware ran: this auth authenticates the request
        else:
            # Another authentication ran (a middleware with another auth, or an anonymous public
            # path): its user stays as it is, ours is kept for the other dependencies of this auth.
            scope.setdefault(_PRINCIPALS, {})[self._binding] = principal

    def _check_scopes(self, principal: Principal, required: Iterable[str], scope: Scope) -> None:
        held = principal.scopes
        missing = tuple(dict.fromkeys(scope for scope in required if scope not in held))
        if missing:
            refusal = f"requires scope(s) {' '.join(missing)}"
            self._forbidden(principal, refusal, scope)
            raise self.http_exception(InsufficientScopeError(refusal, reason="forbidden", scope=missing))

    def _forbidden(self, principal: Principal, refusal: str, scope: Scope, error: AuthError | None = None) -> None:
        """Count and log a refusal of a verified caller (a 403, or a step-up 401), naming the route."""
        self.metrics.refused(error.reason if error is not None else "forbidden")
        log_forbidden(principal.subject, principal.authorized_party, refusal, scope, error)

    def http_exception(self, error: AuthError) -> HTTPException:
        """`error` as the HTTPException FastAPI answers with: status, challenge, description.

        It is also the `AuthError` itself, so an application's exception handler for `AuthError`
        shapes it; without one, FastAPI answers `{"detail": ...}` as the middleware does.
        """
        return http_form(error, self._realm)

    def _requiring(self, check: Callable[[Principal], bool], refusal: str) -> PrincipalDependency:
        principal_dependency = self.principal

        async def dependency(
            connection: HTTPConnection, principal: Principal = Depends(principal_dependency)
        ) -> Principal:
            if not check(principal):
                self._forbidden(principal, refusal, connection.scope)
                raise self.http_exception(InsufficientScopeError(refusal, reason="forbidden"))
            return principal

        return dependency

    def require_roles(self, *roles: str, client: str | None = None) -> PrincipalDependency:
        """The caller must hold every one of `roles`: realm roles, or roles of `client`.

        Raises:
            ValueError, TypeError: no role, or a role or client that is not a non-empty string;
                at definition, so a typo never becomes a route every caller passes.
        """
        _check_names("require_roles", "role", roles, client)
        where = f"client {client}" if client else "realm"
        return self._requiring(
            lambda p: all(p.has_role(role, client) for role in roles),
            f"requires {where} role(s) {', '.join(roles)}",
        )

    def require_any_role(self, *roles: str, client: str | None = None) -> PrincipalDependency:
        """The caller must hold at least one of `roles` (realm roles, or roles of `client`).

        Raises:
            ValueError, TypeError: as `require_roles`; `any()` of no roles would refuse everyone.
        """
        _check_names("require_any_role", "role", roles, client)
        where = f"client {client}" if client else "realm"
        return self._requiring(
            lambda p: any(p.has_role(role, client) for role in roles),
            f"requires one of the {where} roles {', '.join(roles)}",
        )

    def require_scopes(self, *scopes: str) -> PrincipalDependency:
        """The token's `scope` must contain every one of `scopes`; a 403 names the missing ones.

        The scopes are FastAPI `Security` scopes of `auth.principal` (which checks them), so
        OpenAPI lists them in the route's security requirement and the login offers them.

        Raises:
            ValueError, TypeError: no scope, or a scope that is not a non-empty string.
        """
        _check_names("require_scopes", "scope", scopes, None)
        principal_dependency = Security(self.principal, scopes=list(scopes))

        async def dependency(principal: Principal = principal_dependency) -> Principal:
            return principal

        return dependency

    def require_service_account(self, *client_ids: str) -> PrincipalDependency:
        """The caller must be a service account, and with `client_ids`, of one of those clients.

        A service account is a client-credentials token issued to the client it names (`azp`
        equal to `client_id`, see `Principal.is_service_account`): mappers of another client
        writing `client_id` and the username do not make its tokens pass.
        """
        accepted = frozenset(client_ids)
        return self._requiring(
            lambda p: p.is_service_account and (not accepted or p.client_id in accepted),
            "requires a service account" + (f" of client {', '.join(client_ids)}" if client_ids else ""),
        )

    def require_acr(self, *levels: str) -> PrincipalDependency:
        """Step-up: the token's `acr` must be one of `levels` (exact names, in order of preference).

        Otherwise 401 with RFC 9470's `error="insufficient_user_authentication"` and
        `acr_values="<levels>"`, so the client can log the user in again at that level.
        """
        return self._stepping_up(acr_check(levels))

    def require_auth_age(self, seconds: int) -> PrincipalDependency:
        """Step-up: the user must have authenticated (`auth_time`) at most `seconds` ago.

        Otherwise 401 with RFC 9470's `error="insufficient_user_authentication"` and `max_age`.
        """
        return self._stepping_up(auth_age_check(seconds))

    def _stepping_up(self, check: StepUpCheck) -> PrincipalDependency:
        principal_dependency = self.principal

        async def dependency(
            connection: HTTPConnection, principal: Principal = Depends(principal_dependency)
        ) -> Principal:
            try:
                check(principal, self._step_up_clock())
            except InsufficientUserAuthenticationError as exc:
                self._forbidden(principal, exc.description, connection.scope, exc)
                raise self.http_exception(exc) from exc
            return principal

        return dependency

    def roles_required(self, *roles: str, client: str | None = None) -> Callable[[F], F]:
        """Decorator form of `require_roles` for sync and async routes; the route needs no parameter."""
        dependency = self.require_roles(*roles, client=client)

        def decorator(endpoint: F) -> F:
            return typing.cast(F, _with_dependency(endpoint, dependency))

        return decorator

    def swagger_ui_oauth(self, client_id: str, scopes: str = "openid") -> dict[str, Any]:
        """`swagger_ui_init_oauth` for a public client logging in with authorization code + PKCE.

        No secret: Swagger UI runs in the browser, where a secret would not stay secret.
        """
        return {"clientId": client_id, "usePkceWithAuthorizationCodeGrant": True, "scopes": scopes}


class _DependencyScheme(PrincipalScheme):
    """A dependency of `Dependencies` that is itself the bearer scheme in OpenAPI (see `_openapi`)."""

    def __init__(self, dependencies: Dependencies, settings: KeycloakSettings, scheme_name: str) -> None:
        super().__init__(settings, scheme_name)
        self._dependencies = dependencies


class _PrincipalDependency(_DependencyScheme):
    """`auth.principal`: the caller, or a 401/403/503 refusal."""

    async def __call__(self, connection: HTTPConnection, security_scopes: SecurityScopes) -> Principal:
        # Every request of the dependency form runs this: one synchronous look-up, then a verification if need be.
        dependencies = self._dependencies
        found = dependencies._known(connection.scope) or await dependencies._resolve(connection)
        if security_scopes.scopes:
            dependencies._check_scopes(found, security_scopes.scopes, connection.scope)
        return found


class _OptionalPrincipalDependency(_DependencyScheme):
    """`auth.optional_principal`: None without a bearer token (no Authorization header, or Basic,
    Digest, an API key...), as FastAPI's `auto_error=False` schemes give; a bearer token that
    is there must be valid."""

    async def __call__(self, connection: HTTPConnection, security_scopes: SecurityScopes) -> Principal | None:
        dependencies = self._dependencies
        scope = connection.scope
        found = dependencies._known(scope)
        if found is None:
            found = await dependencies._resolve(connection, optional=True)
            if found is None:
                return None
        if security_scopes.scopes:
            dependencies._check_scopes(found, security_scopes.scopes, connection.scope)
        return found


def _with_dependency(endpoint: Callable[..., Any], dependency: PrincipalDependency) -> Callable[..., Any]:
    """`endpoint` with one more keyword parameter that FastAPI fills from `dependency`."""
    signature = inspect.signature(endpoint)
    hints = typing.get_type_hints(endpoint, include_extras=True)
    parameters = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()]
    extra = inspect.Parameter(
        _DECORATOR_PARAMETER, inspect.Parameter.KEYWORD_ONLY, default=Depends(dependency), annotation=Principal
    )
    position = next((i for i, p in enumerate(parameters) if p.kind is inspect.Parameter.VAR_KEYWORD), len(parameters))
    parameters.insert(position, extra)

    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs.pop(_DECORATOR_PARAMETER, None)
            return await endpoint(*args, **kwargs)

        wrapper: Callable[..., Any] = async_wrapper
    else:

        @functools.wraps(endpoint)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs.pop(_DECORATOR_PARAMETER, None)
            return endpoint(*args, **kwargs)

        wrapper = sync_wrapper
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=hints.get("return", signature.return_annotation)
    )
    return wrapper
