"""Client-credentials tokens for calls to other services: one request however many callers.

A cached token expires, fifty requests see an empty cache, fifty token requests hit Keycloak
(field notes §5). Here one request is in flight at a time and every caller awaits it; the token
is renewed before it expires; 429 and 5xx are retried with backoff, honouring `Retry-After`.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Final

import httpx

from fastapi_kc._client_auth import ClientAuthenticator
from fastapi_kc._diagnostics import Diagnosis, token_request_refused
from fastapi_kc._errors import TokenRequestError
from fastapi_kc._http import create_http_client
from fastapi_kc._metrics import NO_METRICS, MetricsSink
from fastapi_kc._settings import KeycloakSettings
from fastapi_kc._text import printable
from fastapi_kc._token_endpoint import CachedToken as _Token
from fastapi_kc._token_endpoint import DescribeRefusal, post_token_form
from fastapi_kc._token_exchange import ExchangeCache, exchange_form, exchange_key, exchange_refused

logger = logging.getLogger("fastapi_kc")

_RETRYABLE: Final = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_AFTER: Final = 10.0  # wait at most this long inside one call; longer waits fail fast


class ServiceTokenClient:
    """Access tokens for this service's own client (`KEYCLOAK_CLIENT_ID`).

    `async with ServiceTokenClient(settings) as client: await client.get_token()`;
    `client.auth()` attaches its tokens to outgoing requests of an `httpx.AsyncClient` or an
    `httpx2.AsyncClient`. The client authenticates as `KEYCLOAK_CLIENT_AUTH_METHOD` says: its
    secret, or an assertion signed with its key. `metrics` (a `fastapi_kc.metrics` adapter,
    possibly the one of `KeycloakAuth`) counts its requests to the token endpoint by result.

    Raises:
        ConfigurationError: the client id, secret or key is not configured or unusable.
    """

    def __init__(
        self,
        settings: KeycloakSettings | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        renew_before_seconds: float = 30.0,
        max_attempts: int = 3,
        backoff_seconds: float = 0.25,
        metrics: MetricsSink | None = None,
    ) -> None:
        self.settings = settings if settings is not None else KeycloakSettings()
        self._client_auth = ClientAuthenticator(self.settings)
        self._client_id = self._client_auth.client_id
        self._metrics: MetricsSink = NO_METRICS if metrics is None else metrics
        self._injected_client = http_client
        self._http: httpx.AsyncClient | None = None
        self._clock = clock
        self._renew_before = renew_before_seconds
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff_seconds
        self._token: _Token | None = None
        self._inflight: asyncio.Task[_Token] | None = None
        self._not_before = float("-inf")
        self._exchanges = ExchangeCache(clock)

    def __repr__(self) -> str:
        return f"ServiceTokenClient(client_id={self._client_id!r}, token_url={self.settings.token_url!r})"

    async def __aenter__(self) -> ServiceTokenClient:
        self._http = self._injected_client or create_http_client(self.settings)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        task, self._inflight = self._inflight, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._exchanges.aclose()
        http, self._http = self._http, None
        if http is not None and http is not self._injected_client:
            await http.aclose()

    @contextmanager
    def use_http_client(self, client: httpx.AsyncClient) -> Iterator[None]:
        """Ask `client` for tokens during the block, and forget them (and it) when the block ends.

        What `fastapi_kc.testing.MockKeycloak` uses to answer token requests in memory.

        Raises:
            RuntimeError: the client is started when the block begins, or still started when it ends.
        """
        if self._http is not None:
            raise RuntimeError("ServiceTokenClient is already started: swap its HTTP client before `async with`")
        previous, self._injected_client = self._injected_client, client
        self._forget()
        try:
            yield
        finally:
            self._injected_client = previous
            self._forget()  # a token from the other Keycloak must never be served afterwards
        if self._http is not None:
            raise RuntimeError("ServiceTokenClient is still started at the end of the block: close it inside")

    def _forget(self) -> None:
        self._token, self._not_before = None, float("-inf")
        self._exchanges = ExchangeCache(self._clock)

    async def get_token(self) -> str:
        """A valid access token, from the cache or from one shared request to Keycloak.

        Raises:
            TokenRequestError: Keycloak refused (with its status and `error`) or was unreachable.
        """
        token = self._token
        now = self._clock()
        if token is not None and now < token.renew_at:
            return token.value
        task = self._inflight
        if task is None:
            if now < self._not_before:
                if token is not None and now < token.expires_at:
                    return token.value  # Keycloak asked to wait, and this one is still valid
                raise TokenRequestError(
                    f"Keycloak asked to retry the token request later ({self._not_before - now:.0f} s)",
                    status_code=429,
                )
            task = self._inflight = asyncio.get_running_loop().create_task(self._renew())
            task.add_done_callback(self._renewal_done)
        if token is not None and now < token.expires_at:
            return token.value  # still valid: serve it while the renewal runs
        return (await asyncio.shield(task)).value

    async def exchange(self, subject_token: str, *, audience: str | None = None, scope: str | None = None) -> str:
        """`subject_token` (a user's access token) exchanged for one aimed at `audience` (RFC 8693).

        Keycloak's standard token exchange: the subject token's `aud` must name this client,
        `audience` must be available to it, and the exchanged token's `aud` is `audience` only.
        Cached per (subject token, audience, scope) until shortly before it expires; concurrent
        callers with the same arguments share one request. Retries 429 and 5xx as `get_token`.

        Raises:
            ValueError: an empty `subject_token`, `audience` or `scope`.
            TokenRequestError: Keycloak refused (its status, `error`, and the fix) or was unreachable.
        """
        form = exchange_form(subject_token, audience, scope)
        now = self._clock()
        if now < self._not_before:
            raise TokenRequestError(
                f"Keycloak asked to retry token requests later ({self._not_before - now:.0f} s)", status_code=429
            )

        def describe(status: int, error: str | None, description: str | None) -> Diagnosis:
            return exchange_refused(self.settings, status, error, description, audience=audience, scope=scope)

        return await self._exchanges.get(
            exchange_key(subject_token, audience, scope), lambda: self._with_retries(form, describe)
        )

    def invalidate(self, value: str) -> None:
        """Forget `value` (e.g. a downstream service answered 401 to it)."""
        if self._token is not None and self._token.value == value:
            self._token = None

    def auth(self) -> ServiceTokenAuth:
        """An auth attaching the token to requests, renewing once on a 401.

        Accepted by `httpx.AsyncClient` and, when httpx2 is installed, by `httpx2.AsyncClient`
        (the fork Starlette's test client and Authlib have moved to): both check `isinstance`
        against their own `Auth` class, so the object returned is an instance of both.
        """
        return _auth_class()(self)

    def _renewal_done(self, task: asyncio.Task[_Token]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled() and (exc := task.exception()) is not None:
            status = exc.status_code if isinstance(exc, TokenRequestError) else None
            logger.warning(
                "service token request failed: %s",
                exc,
                extra={
                    "event": "service_token_request",
                    "result": "failed",
                    "status": status,
                    "client": self._client_id,
                },
            )

    async def _renew(self) -> _Token:
        token = await self._with_retries({"grant_type": "client_credentials"}, self._describe_refusal)
        self._token = token
        return token

    def _describe_refusal(self, status: int, error: str | None, description: str | None) -> Diagnosis:
        return token_request_refused(self.settings, status, error, description)

    async def _with_retries(self, form: dict[str, str], describe: DescribeRefusal) -> _Token:
        for attempt in range(1, self._max_attempts + 1):
            try:
                token = await self._request(form, describe)
            except TokenRequestError as exc:
                self._record(form, exc)
                wait = getattr(exc, "retry_after", None)
                if exc.status_code is not None and exc.status_code not in _RETRYABLE:
                    raise
                if attempt == self._max_attempts:
                    if wait is not None:
                        self._not_before = self._clock() + wait
                    raise
                if wait is not None and wait > _MAX_RETRY_AFTER:
                    self._not_before = self._clock() + wait
                    raise
                await asyncio.sleep(wait if wait is not None else self._backoff * 2 ** (attempt - 1))
            else:
                self._metrics.service_token_request("ok")
                logger.debug(
                    "token obtained for client %s (%s)",
                    self._client_id,
                    form["grant_type"],
                    extra=self._fields(form, "ok", 200, None),
                )
                return token
        raise AssertionError("unreachable")  # pragma: no cover

    def _record(self, form: dict[str, str], exc: TokenRequestError) -> None:
        """Count and log one failed token request: `refused` when Keycloak answered no, else `error`."""
        status = exc.status_code
        result = "refused" if status is not None and 400 <= status < 500 and status != 429 else "error"
        self._metrics.service_token_request(result)
        logger.info(
            "token request %s: %s",
            result if result == "refused" else "failed",
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            extra=self._fields(form, result, status, exc.error),
        )

    def _fields(self, form: dict[str, str], result: str, status: int | None, error: str | None) -> dict[str, object]:
        grant = form.get("grant_type", "")
        return {
            "event": "service_token_request",
            "grant": grant.rsplit(":", 1)[-1],
            "result": result,
            "status": status,
            "error": None if error is None else printable(error),  # Keycloak's (or a proxy's) text
            "client": self._client_id,
        }

    async def _request(self, form: dict[str, str], describe: DescribeRefusal) -> _Token:
        if self._http is None:
            raise TokenRequestError("ServiceTokenClient is not started: use `async with`")
        started = self._clock()
        issued = await post_token_form(self._http, self.settings, self._client_auth, form, describe)
        lifetime = issued.lifetime
        # Renew before expiry: `renew_before` ahead, but never later than half-way for short lifetimes.
        renew_in = max(min(lifetime - self._renew_before, lifetime * 0.9), lifetime * 0.5)
        return _Token(issued.value, started + renew_in, started + lifetime)


class ServiceTokenAuth(httpx.Auth):
    """Attaches a `ServiceTokenClient` token; on a 401, renews once and retries the request.

    The flow only sets a header and reads the status, which httpx's and httpx2's requests and
    responses both offer; `ServiceTokenClient.auth()` gives an instance usable with either.
    """

    def __init__(self, tokens: ServiceTokenClient) -> None:
        self._tokens = tokens

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        raise RuntimeError("ServiceTokenAuth works with httpx.AsyncClient only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._tokens.get_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self._tokens.invalidate(token)
            request.headers["Authorization"] = f"Bearer {await self._tokens.get_token()}"
            yield request


@functools.cache
def _auth_class() -> type[ServiceTokenAuth]:
    """`ServiceTokenAuth`, also an `httpx2.Auth` when httpx2 is installed (imported on first use only)."""
    try:
        httpx2 = importlib.import_module("httpx2")
    except ImportError:
        return ServiceTokenAuth
    both: type[ServiceTokenAuth] = type(
        "ServiceTokenAuth",
        (ServiceTokenAuth, httpx2.Auth),
        {"__module__": __name__, "__doc__": ServiceTokenAuth.__doc__},
    )
    return both
