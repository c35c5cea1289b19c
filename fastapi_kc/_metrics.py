"""What the core tells a metrics backend: a small interface, and the sink used when none is given.

The core calls these methods where things happen (a token answered from the cache, a full
verification, a refusal, a key-set fetch, a service-token request); an adapter in
`fastapi_kc.metrics` turns them into Prometheus or OpenTelemetry instruments. The core never
imports a metrics library: with no metrics configured it calls `NoMetrics`, whose methods do
nothing, bound once, so the request path has no `if metrics:` branch.

Label values are always fixed codes chosen by this library (`AuthError.reason`, `"ok"`,
`"error"`, ...), never a claim or any other text from a request: the number of series stays
bounded whatever clients send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

KeySetAge = Callable[[], float | None]
"""Seconds since the last successful key-set fetch, or None when no key set was ever loaded."""


@runtime_checkable
class MetricsSink(Protocol):
    """Events of `KeycloakAuth` and `ServiceTokenClient`, for a metrics backend to count.

    Called on the event loop thread; the request-path methods (`token_cache_hit` above all)
    must be cheap: count in memory, publish when scraped.
    """

    def token_cache_hit(self) -> None:
        """A token was answered from the verified-token cache: one accepted authentication."""

    def token_verified(self, seconds: float, accepted: bool) -> None:
        """A full verification (a cache miss) took `seconds`; `accepted` counts one accepted authentication."""

    def refused(self, reason: str) -> None:
        """A request was refused; `reason` is the `AuthError.reason` code (`expired`, `forbidden`, ...)."""

    def key_set_fetch(self, result: str) -> None:
        """A fetch of the realm's key set ended: `result` is `ok` or `error`."""

    def watch_key_set_age(self, age: KeySetAge) -> None:
        """Register the function that reports the key set's age whenever the backend is read."""

    def service_token_request(self, result: str) -> None:
        """A request to the token endpoint ended: `ok`, `refused` (Keycloak said no) or `error` (no answer)."""

    def revocation_received(self, result: str) -> None:
        """A revocation (back-channel logout) arrived: `accepted`, or the code it was refused with."""

    def introspection_request(self, result: str) -> None:
        """An introspection call to Keycloak ended: `active`, `inactive` or `error`."""


class NoMetrics:
    """The sink used when metrics are not enabled: every method does nothing."""

    __slots__ = ()

    def token_cache_hit(self) -> None:
        pass

    def token_verified(self, seconds: float, accepted: bool) -> None:
        pass

    def refused(self, reason: str) -> None:
        pass

    def key_set_fetch(self, result: str) -> None:
        pass

    def watch_key_set_age(self, age: KeySetAge) -> None:
        pass

    def service_token_request(self, result: str) -> None:
        pass

    def revocation_received(self, result: str) -> None:
        pass

    def introspection_request(self, result: str) -> None:
        pass


NO_METRICS = NoMetrics()
