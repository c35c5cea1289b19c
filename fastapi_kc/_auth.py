"""`KeycloakAuth`: start-up checks, the key cache, verification, and the FastAPI face.

Start-up is where configuration is proven against the real Keycloak (field notes §1, §6):
the discovery document is read through the internal URL, its `issuer` must equal ours, and
the key set is fetched. Any failure is a `ConfigurationError` that says what to change, raised
before the service takes its first request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import APIRouter, Depends
from starlette.requests import HTTPConnection
from starlette.types import Scope

from fastapi_kc import _diagnostics as diagnose
from fastapi_kc._bearer import bearer_token
from fastapi_kc._credentials import request_token
from fastapi_kc._dependencies import Dependencies, PrincipalDependency, no_cached_principal
from fastapi_kc._errors import AuthError, ConfigurationError, KeysUnavailableError, MissingTokenError
from fastapi_kc._health import Health, assess, health_router
from fastapi_kc._http import FetchError, create_http_client, get_json
from fastapi_kc._introspection import Introspector
from fastapi_kc._jwks import KeySetCache
from fastapi_kc._keys import KeySet, key_set_from_jwks
from fastapi_kc._logs import log_refusal
from fastapi_kc._metrics import NO_METRICS, MetricsSink
from fastapi_kc._paths import with_route
from fastapi_kc._principal import Principal
from fastapi_kc._revocation_face import RevocationFace
from fastapi_kc._revocations import RevocationList
from fastapi_kc._settings import KeycloakSettings
from fastapi_kc._verifier import TokenVerifier

if TYPE_CHECKING:
    from fastapi_kc.revocation import RevocationStore

logger = logging.getLogger("fastapi_kc")


class KeycloakAuth(Dependencies, RevocationFace):
    """Verifies Keycloak access tokens for one API; start it before serving requests.

    `async with KeycloakAuth(settings) as auth:` or `FastAPI(lifespan=auth.lifespan)`.
    `http_client` replaces the default httpx client (which verifies TLS with `ca_bundle` and
    never follows redirects); `clock` replaces `time.time`, for tests. `principal_class`, a
    subclass of `Principal` with properties of your own, is what every verified token becomes
    (immutable, and cached with the token like the base class). `revocation_store` replaces
    the store built from `settings.revocation_store` (see `fastapi_kc.revocation`).
    `scheme_name` names this auth's two OpenAPI schemes (`KeycloakBearer.<name>`,
    `KeycloakLogin.<name>`); by default the realm and audiences, so that two auths in one
    application stay apart in Swagger UI.
    `metrics` receives what happens (a `fastapi_kc.metrics` adapter such as
    `PrometheusMetrics()`); nothing is counted without one.

    Raises:
        ConfigurationError: from the constructor for invalid settings, from start-up when
            Keycloak cannot be reached or does not match the settings.
    """

    def __init__(
        self,
        settings: KeycloakSettings | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        principal_class: type[Principal] = Principal,
        revocation_store: RevocationStore | None = None,
        scheme_name: str | None = None,
        metrics: MetricsSink | None = None,
    ) -> None:
        if not (isinstance(principal_class, type) and issubclass(principal_class, Principal)):
            raise ConfigurationError(f"principal_class must be Principal or a subclass of it, not {principal_class!r}")
        self.settings = settings if settings is not None else KeycloakSettings()
        self.principal_class = principal_class
        self.metrics: MetricsSink = NO_METRICS if metrics is None else metrics
        """Where events are counted: the adapter given, or a sink that does nothing."""
        self._injected_client = http_client
        self._client: httpx.AsyncClient | None = None
        self._clock = clock
        self._keys = KeySetCache(
            self._fetch_keys,
            clock=clock,
            cooldown=self.settings.jwks_cooldown_seconds,
            max_age=self.settings.jwks_max_age_seconds,
            max_stale=self.settings.jwks_max_stale_seconds,
            url=self.settings.jwks_url,
            metrics=self.metrics,
        )
        self.metrics.watch_key_set_age(self._keys.age)
        self.revocations = RevocationList(clock)
        """The local view of ended sessions every request is checked against (fed by the store)."""
        self.public_paths: frozenset[str] = frozenset()
        """Paths that need no bearer token by construction (the back-channel logout route);
        `KeycloakMiddleware` lets them through."""
        self._introspector: Introspector | None = None
        self._introspect_all = self.settings.introspect_every_request
        if self._introspect_all:
            self._introspection()  # fails now, not at the first request, without client credentials
        self._injected_store = revocation_store
        self._store: RevocationStore | None = None
        self._verifier = TokenVerifier(
            self.settings, self._keys, clock, principal_class, self.revocations, metrics=self.metrics
        )
        self._users = 0
        self._start_lock: asyncio.Lock | None = None
        self._retry_start_at = float("-inf")
        super().__init__(self.settings, self.authenticate, self._verifier.binding, clock, scheme_name)

    def __repr__(self) -> str:
        state = "started" if self._users else "not started"
        return f"KeycloakAuth(issuer={self.settings.issuer!r}, audience={list(self.settings.audience)!r}, {state})"

    # --- life cycle --------------------------------------------------------------------------

    _started_on_first_use = False
    """Started by a token, not by a user of the auth: no one is counted who would close it. The
    next start by an application's lifespan (`auth.lifespan`, `KeycloakMiddleware`) adopts that
    start instead of adding a user, so the app's shutdown ends the auth as if it had started it.
    A plain `start()` or `async with auth` (code borrowing the auth for a while) only counts:
    its close must not end an auth the application is still serving with."""

    @property
    def started(self) -> bool:
        return self._users > 0

    async def start(self) -> None:
        """Check Keycloak against the settings and fetch the keys. Nested starts are counted.

        Raises:
            ConfigurationError: naming the URL, what was expected and found, and the fix.
        """
        await self._start(adopt=False)

    async def _start_with_app(self) -> None:
        """`start` for an application's lifespan (`auth.lifespan`, `KeycloakMiddleware`): it also
        adopts a start on first use, so that the application's shutdown closes the auth.

        Raises:
            ConfigurationError: as `start`.
        """
        await self._start(adopt=True)

    async def _start(self, *, adopt: bool) -> None:
        self._start_lock = self._start_lock or asyncio.Lock()
        async with self._start_lock:
            if adopt and self._started_on_first_use:
                self._started_on_first_use = False  # this start becomes the owner: its close ends it
                return
            if self._users:
                self._users += 1
                return
            await self._start_now()

    async def _start_now(self) -> None:
        """The start-up check itself; the caller holds the start lock and nothing is started."""
        self._client = self._injected_client or create_http_client(self.settings)
        try:
            await self._check_discovery(self._client)
            keys = await self._keys.load()
        except FetchError as exc:
            await self._release_client()
            raise ConfigurationError(f"Keycloak start-up check failed: {exc.diagnosis}") from None
        except BaseException:
            await self._release_client()
            raise
        if not len(keys):
            await self._release_client()
            raise ConfigurationError(
                f"Keycloak start-up check failed: {diagnose.no_usable_keys(self.settings, keys.skipped)}"
            )
        try:
            await self._start_store()
        except BaseException:
            await self._keys.close()
            await self._release_client()
            raise
        self._users = 1
        self._serve_cached(True)
        logger.info("ready: issuer %s, audience %s", self.settings.issuer, ",".join(self.settings.audience))

    async def _start_on_first_use(self) -> None:
        """Start for a token that arrived before any start: a mounted sub-application's lifespan
        never runs, and neither `auth.lifespan` nor the middleware's start would ever happen.

        A failed start is retried at most once per `jwks_cooldown_seconds`, so a misconfigured
        service does not send Keycloak one discovery request per incoming request.

        Raises:
            KeysUnavailableError: the start failed (the reason is logged as an error).
        """
        if self._clock() < self._retry_start_at:
            raise KeysUnavailableError("authentication could not start", reason="not_started")
        self._start_lock = self._start_lock or asyncio.Lock()
        async with self._start_lock:
            if self._users:
                return
            logger.warning(
                "KeycloakAuth started on first use: no lifespan started it (a mounted sub-application's "
                "lifespan never runs). It stays open until `await auth.close()` or the end of a lifespan that "
                "starts it later; to start and stop it with the service, give the outermost app "
                "lifespan=auth.lifespan (or its KeycloakMiddleware)"
            )
            try:
                await self._start_now()
            except ConfigurationError as exc:
                self._retry_start_at = self._clock() + self.settings.jwks_cooldown_seconds
                logger.error("KeycloakAuth could not start on first use: %s", exc)
                raise KeysUnavailableError("authentication could not start", reason="not_started") from None
            self._started_on_first_use = True

    async def close(self) -> None:
        """Release the HTTP client and background work once the last user has closed.

        A start on first use that no `start()` adopted has no user of its own: one `close()`
        (the one its warning asks for) ends it.
        """
        if self._users == 0:
            return
        self._users -= 1
        if self._users == 0:
            self._started_on_first_use = False
            self._serve_cached(False)
            await self._close_store()
            await self._keys.close()
            await self._release_client()

    async def __aenter__(self) -> KeycloakAuth:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """For `FastAPI(lifespan=auth.lifespan)`: start with the app, stop with it.

        Also completes the app's OpenAPI document (`document_openapi`).
        """
        await self._start_with_app()
        try:
            self.document_openapi(app)
            yield
        finally:
            await self.close()

    @contextmanager
    def use_http_client(self, client: httpx.AsyncClient) -> Iterator[None]:
        """Reach Keycloak through `client` for the block, then through the one from before again.

        The same code path as in production with another transport underneath: this is how
        `fastapi_kc.testing.MockKeycloak` puts an in-memory Keycloak behind one auth. Swapping is
        refused while started, because the keys in use came from the other Keycloak.

        Raises:
            RuntimeError: the auth is started when the block begins, or still started when it ends.
        """
        if self._users:
            raise RuntimeError(
                "KeycloakAuth is already started: swap its HTTP client before the app starts (enter the block first)"
            )
        previous, self._injected_client = self._injected_client, client
        try:
            yield
        finally:
            self._injected_client = previous
        if self._users:
            raise RuntimeError("KeycloakAuth is still started at the end of the block: stop the app inside it")

    # --- verification ------------------------------------------------------------------------

    async def verify(self, token: str) -> Principal:
        """The caller behind an access token.

        Raises:
            AuthError: 401 for a token that is malformed, forged, expired or not for this API;
                503 when its key is unknown and Keycloak cannot be reached, or when this first
                use had to start the auth and the start failed.
        """
        try:
            if self._users and not self._introspect_all:  # the usual case, one coroutine less
                return await self._verifier.verify(token)
            return await self._verify(token)
        except AuthError as exc:
            self._refused(exc, None)
            raise

    async def _verify(self, token: str) -> Principal:
        if not self._users:
            await self._start_on_first_use()
        if self._introspector is not None and self._introspect_all:
            return await self._verifier.verify_introspected(token, self._introspector.claims)
        return await self._verifier.verify(token)

    def _refused(self, error: AuthError, scope: Scope | None) -> None:
        """Count and log a refusal once, where the request (if any) is known."""
        error.recorded = True
        self.metrics.refused(error.reason)
        log_refusal(error, scope)

    def require_active(self) -> PrincipalDependency:
        """A dependency for routes that must know at once that the session still exists.

        After the usual verification, Keycloak's introspection endpoint is asked whether the token
        is still active (a logout, a disabled user, an ended session); answers are cached for
        `introspection_cache_seconds`. 401 when it is not active, 503 when Keycloak cannot answer.

        Raises:
            ConfigurationError: `client_id`/`client_secret` are not set (introspection needs them).
        """
        introspector = self._introspection()
        principal_dependency = self.principal

        async def active(connection: HTTPConnection, principal: Principal = Depends(principal_dependency)) -> Principal:
            try:
                # A login session's token (the middleware's credential source) has no Authorization header.
                token = request_token(connection.scope) or bearer_token(connection.scope["headers"])
                await introspector.claims(token)
            except AuthError as exc:
                self.metrics.refused(exc.reason)
                log_refusal(exc, connection.scope, logging.INFO)  # Keycloak's verdict: worth a line
                raise self.http_exception(exc) from exc
            return principal

        return active

    def _introspection(self) -> Introspector:
        if self._introspector is None:
            self._introspector = Introspector(self.settings, lambda: self._client, self._clock, self.metrics)
        return self._introspector

    def _serve_cached(self, serving: bool) -> None:
        """Point `cached_principal`, the request path's first step, at the verifier's cache while
        started (and not introspecting every request), and at nothing otherwise.

        An attribute switched here rather than a method that checks the state on each call:
        the step then costs one call, where a busy server pays about half a microsecond for each.
        """
        self.cached_principal = (
            self._verifier.cached_request if serving and not self._introspect_all else no_cached_principal
        )

    async def authenticate(
        self, headers: list[tuple[bytes, bytes]], scope: Scope | None = None, optional: bool = False
    ) -> Principal:
        """The caller of a request, from its raw ASGI headers; `scope` names the request in the log.

        With `optional`, a request without a bearer token (`MissingTokenError`) is raised as
        ever but is no refusal: neither logged nor counted (anonymous callers of optional routes).

        Raises:
            AuthError: no or malformed Authorization header, or a token `verify` refuses.
        """
        try:
            token = bearer_token(headers)
            if self._users and not self._introspect_all:  # the usual case, one coroutine less
                return await self._verifier.verify(token)
            return await self._verify(token)
        except AuthError as exc:
            if not (optional and isinstance(exc, MissingTokenError)):
                self._refused(exc, scope)
            raise

    # --- health --------------------------------------------------------------------------------

    def health(self) -> Health:
        """Whether this service can verify tokens now, and if not, why: for readiness probes.

        Not ready before start, while no key set was ever loaded, or once the keys are older
        than `jwks_max_stale_seconds`. A probe of a started service also starts a key-set
        refresh when one is due, so a service without traffic keeps its keys fresh.
        """
        if self._users:
            self._keys.refresh_if_due()
        error = self._keys.last_error
        return assess(
            self.settings,
            started=self.started,
            keys=len(self._keys.keys or ()),
            age=self._keys.age(),
            error=error.diagnosis if error is not None else None,
            revocation_store=self.revocation_state,
        )

    def health_router(self, path: str = "/health/ready", *, details: bool = False) -> APIRouter:
        """`GET path` for readiness probes: 200 `{"ready": true}`, or 503 `{"ready": false}`.

        `details=True` adds the whole `health()` report (key-set age, last fetch error, problems
        and their fixes; these name internal URLs, so keep such a route away from the internet).
        The path needs no token: it joins `auth.public_paths`, which `KeycloakMiddleware` lets
        through. Include the router without a prefix.

        Raises:
            ConfigurationError: `path` does not start with `/`.
        """
        self.public_paths = with_route(self.public_paths, "health_router", path)
        return health_router(self.health, path, details=details)

    # --- I/O -----------------------------------------------------------------------------------

    async def _check_discovery(self, client: httpx.AsyncClient) -> None:
        document = await get_json(client, self.settings, self.settings.discovery_url, what="discovery document")
        found = document.get("issuer") if isinstance(document, dict) else None
        if found != self.settings.issuer:
            raise FetchError(diagnose.issuer_mismatch(self.settings, found))

    async def _fetch_keys(self, previous: KeySet | None) -> KeySet:
        if self._client is None:
            raise FetchError(diagnose.unreachable(self.settings, self.settings.jwks_url, "other", "client closed"))
        document = await get_json(self._client, self.settings, self.settings.jwks_url, what="key set")
        try:
            return key_set_from_jwks(document, self.settings.algorithms, previous)
        except ValueError as exc:
            raise FetchError(diagnose.not_a_key_set(self.settings.jwks_url, str(exc))) from exc

    async def _release_client(self) -> None:
        client, self._client = self._client, None
        if client is not None and client is not self._injected_client:
            await client.aclose()
