"""Metrics for `KeycloakAuth` and `ServiceTokenClient`: Prometheus or OpenTelemetry, opt-in.

    auth = KeycloakAuth(settings, metrics=PrometheusMetrics())      # pip install 'fastapi-kc[prometheus]'
    auth = KeycloakAuth(settings, metrics=OpenTelemetryMetrics())   # pip install 'fastapi-kc[otel]'

Both adapters count in plain integers on the request path (an attribute increment, well under a
microsecond) and hand the counts to their library only when it is read: a Prometheus scrape
runs a custom collector, OpenTelemetry calls observable instruments. Only the verification time
of a cache miss is recorded as it happens (a histogram; a miss costs a signature check anyway).

| Prometheus | OpenTelemetry | labels / attributes |
|---|---|---|
| `fastapi_kc_authentications_total` | `fastapi_kc.authentications` | `outcome` (`accepted`, `refused`), `reason` |
| `fastapi_kc_verification_seconds` (histogram) | `fastapi_kc.verification` (s) | |
| `fastapi_kc_token_cache_hits_total`, `_misses_total` | `fastapi_kc.token_cache.hits`, `.misses` | |
| `fastapi_kc_key_set_fetches_total` | `fastapi_kc.key_set.fetches` | `result` (`ok`, `error`) |
| `fastapi_kc_key_set_age_seconds` (gauge) | `fastapi_kc.key_set.age` (s) | |
| `fastapi_kc_service_token_requests_total` | `fastapi_kc.service_token.requests` | `result` (`ok`/`refused`/`error`) |
| `fastapi_kc_revocations_received_total` | `fastapi_kc.revocations.received` | `result` |
| `fastapi_kc_introspection_requests_total` | `fastapi_kc.introspection.requests` | `result` |

OpenTelemetry's names follow its conventions (no `_total`, the unit apart); its Prometheus
exporter turns them into the Prometheus names above. `reason` is an `AuthError.reason` code
(empty for accepted requests), never a claim value. Each adapter imports its library only
when it is created; the core never imports this module.
"""

from __future__ import annotations

import bisect
import importlib
import math
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

from fastapi_kc._errors import ConfigurationError
from fastapi_kc._metrics import NO_METRICS, KeySetAge, MetricsSink, NoMetrics

__all__ = ["NO_METRICS", "CountingMetrics", "MetricsSink", "NoMetrics", "OpenTelemetryMetrics", "PrometheusMetrics"]

# A verification is tens of microseconds; one that waits for a key-set fetch, up to the HTTP timeout.
VERIFICATION_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


def _require(module: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigurationError(
            f"{module} is not installed: install it with pip install 'fastapi-kc[{extra}]'"
        ) from exc


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


class CountingMetrics:
    """A `MetricsSink` that counts in memory; the adapters publish its counts when read.

    Not locked: every event arrives on the event loop thread, where `+= 1` cannot interleave.
    """

    def __init__(self, buckets: Iterable[float] = VERIFICATION_BUCKETS) -> None:
        self.cache_hits = 0
        self.cache_misses = 0
        self.verified_accepted = 0
        self.refusals: dict[str, int] = {}
        self.key_set_fetches: dict[str, int] = {"ok": 0, "error": 0}
        self.service_token_requests: dict[str, int] = {"ok": 0, "refused": 0, "error": 0}
        self.revocations: dict[str, int] = {}
        self.introspections: dict[str, int] = {}
        self.buckets = tuple(sorted(buckets))
        self.bucket_counts = [0] * (len(self.buckets) + 1)  # the last one is +Inf
        self.verification_sum = 0.0
        self._ages: list[KeySetAge] = []

    @property
    def accepted(self) -> int:
        """Accepted authentications: cache hits plus full verifications that passed (one count, one label)."""
        return self.cache_hits + self.verified_accepted

    def token_cache_hit(self) -> None:
        self.cache_hits += 1

    def token_verified(self, seconds: float, accepted: bool) -> None:
        self.cache_misses += 1
        if accepted:
            self.verified_accepted += 1
        self.observe_verification(seconds)

    def observe_verification(self, seconds: float) -> None:
        self.bucket_counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.verification_sum += seconds

    def refused(self, reason: str) -> None:
        _bump(self.refusals, reason)

    def key_set_fetch(self, result: str) -> None:
        _bump(self.key_set_fetches, result)

    def watch_key_set_age(self, age: KeySetAge) -> None:
        self._ages.append(age)

    def key_set_age(self) -> float | None:
        """The oldest watched key set's age (what an alert on staleness wants), None if none loaded."""
        ages = [age for age in (source() for source in self._ages) if age is not None and math.isfinite(age)]
        return max(ages) if ages else None

    def service_token_request(self, result: str) -> None:
        _bump(self.service_token_requests, result)

    def revocation_received(self, result: str) -> None:
        _bump(self.revocations, result)

    def introspection_request(self, result: str) -> None:
        _bump(self.introspections, result)

    def authentications(self) -> Iterator[tuple[dict[str, str], int]]:
        """`({outcome, reason}, count)` pairs: accepted first, then each refusal reason seen."""
        yield {"outcome": "accepted", "reason": ""}, self.accepted
        for reason, count in sorted(self.refusals.items()):
            yield {"outcome": "refused", "reason": reason}, count


class PrometheusMetrics(CountingMetrics):
    """Publishes the counts to a prometheus-client registry (default: prometheus-client's own).

    One per registry: a second one on the same registry is refused by prometheus-client
    (duplicated time series). Serve them with `prometheus_client.make_asgi_app(registry)` or
    `generate_latest(registry)`.

    Raises:
        ConfigurationError: prometheus-client is not installed.
    """

    def __init__(self, registry: Any = None, *, buckets: Iterable[float] = VERIFICATION_BUCKETS) -> None:
        client = _require("prometheus_client", "prometheus")
        super().__init__(buckets)
        self._core = importlib.import_module("prometheus_client.core")
        self.registry = client.REGISTRY if registry is None else registry
        self.registry.register(self)

    def collect(self) -> Iterator[Any]:
        """Called by prometheus-client on each scrape: the current counts as metric families."""
        core = self._core
        auth = core.CounterMetricFamily(
            "fastapi_kc_authentications", "Authentication decisions by outcome and refusal reason",
            labels=["outcome", "reason"],
        )  # fmt: skip
        for labels, count in self.authentications():
            auth.add_metric([labels["outcome"], labels["reason"]], count)
        yield auth
        cumulative, buckets = 0, []
        for bound, count in zip((*self.buckets, math.inf), self.bucket_counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == math.inf else repr(float(bound)), cumulative))
        yield core.HistogramMetricFamily(
            "fastapi_kc_verification_seconds", "Time of full token verifications (token cache misses)",
            buckets=buckets, sum_value=self.verification_sum,
        )  # fmt: skip
        yield core.CounterMetricFamily(
            "fastapi_kc_token_cache_hits", "Tokens answered from the verified-token cache", value=self.cache_hits
        )
        yield core.CounterMetricFamily(
            "fastapi_kc_token_cache_misses", "Tokens verified in full (not in the cache)", value=self.cache_misses
        )
        yield self._by("fastapi_kc_key_set_fetches", "Fetches of the realm's key set by result", self.key_set_fetches)
        age = self.key_set_age()
        if age is not None:
            yield core.GaugeMetricFamily(
                "fastapi_kc_key_set_age_seconds", "Seconds since the last successful key-set fetch", value=age
            )
        yield self._by(
            "fastapi_kc_service_token_requests", "Client-credentials requests by result", self.service_token_requests
        )
        yield self._by("fastapi_kc_revocations_received", "Revocations received by result", self.revocations)
        yield self._by("fastapi_kc_introspection_requests", "Introspection calls by result", self.introspections)

    def _by(self, name: str, documentation: str, counts: dict[str, int]) -> Any:
        family = self._core.CounterMetricFamily(name, documentation, labels=["result"])
        for result, count in sorted(counts.items()):
            family.add_metric([result], count)
        return family


class OpenTelemetryMetrics(CountingMetrics):
    """Publishes the counts as OpenTelemetry instruments of meter `fastapi_kc`.

    Counters and the key-set age are observable instruments (read at each collection); the
    verification time is a histogram recorded on each cache miss (the SDK's `Histogram.record`
    costs several microseconds, 7 to 18 measured on a busy 2-core machine: paid on cache misses
    only, beside a signature check). `meter_provider` defaults to the global one
    (`opentelemetry.metrics.set_meter_provider`).

    Raises:
        ConfigurationError: opentelemetry-api is not installed.
    """

    def __init__(self, meter_provider: Any = None, *, buckets: Iterable[float] = VERIFICATION_BUCKETS) -> None:
        api = _require("opentelemetry.metrics", "otel")
        super().__init__(buckets)
        from fastapi_kc import __version__

        self._observation = api.Observation
        meter = api.get_meter("fastapi_kc", __version__, meter_provider=meter_provider)
        self._histogram = meter.create_histogram(
            "fastapi_kc.verification", unit="s", description="Time of full token verifications (token cache misses)",
            explicit_bucket_boundaries_advisory=list(self.buckets),
        )  # fmt: skip
        counters = {
            "fastapi_kc.authentications": ("Authentication decisions", self.authentications),
            "fastapi_kc.token_cache.hits": ("Tokens answered from the cache", lambda: [({}, self.cache_hits)]),
            "fastapi_kc.token_cache.misses": ("Tokens verified in full", lambda: [({}, self.cache_misses)]),
            "fastapi_kc.key_set.fetches": ("Key-set fetches", lambda: _results(self.key_set_fetches)),
            "fastapi_kc.service_token.requests": ("Token requests", lambda: _results(self.service_token_requests)),
            "fastapi_kc.revocations.received": ("Revocations received", lambda: _results(self.revocations)),
            "fastapi_kc.introspection.requests": ("Introspection calls", lambda: _results(self.introspections)),
        }
        for name, (description, read) in counters.items():
            meter.create_observable_counter(name, callbacks=[self._callback(read)], description=description)
        meter.create_observable_gauge(
            "fastapi_kc.key_set.age", callbacks=[self._age_callback], unit="s",
            description="Seconds since the last successful key-set fetch",
        )  # fmt: skip

    def observe_verification(self, seconds: float) -> None:
        self._histogram.record(seconds)

    def _callback(self, read: Any) -> Any:
        def callback(options: Any) -> list[Any]:
            return [self._observation(count, attributes) for attributes, count in read()]

        return callback

    def _age_callback(self, options: Any) -> list[Any]:
        age = self.key_set_age()
        return [] if age is None else [self._observation(age)]


def _results(counts: dict[str, int]) -> list[tuple[dict[str, str], int]]:
    return [({"result": result}, count) for result, count in sorted(counts.items())]
