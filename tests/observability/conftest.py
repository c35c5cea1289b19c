"""Metrics read back the way operators read them: the Prometheus exposition, an OpenTelemetry reader.

`backend` runs a test once per adapter; its `read(name, **labels)` takes the Prometheus sample
name (`fastapi_kc_authentications_total`, `..._seconds_count`) and, for OpenTelemetry, reads the
instrument that the adapter's table maps it to, through the SDK's in-memory reader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fastapi_kc import KeycloakAuth, KeycloakMiddleware, Principal
from fastapi_kc.metrics import CountingMetrics, OpenTelemetryMetrics, PrometheusMetrics
from tests.support.clock import Clock

# Prometheus sample name -> (OpenTelemetry instrument, what of its data point)
OTEL_NAMES: dict[str, tuple[str, str]] = {
    "fastapi_kc_authentications_total": ("fastapi_kc.authentications", "value"),
    "fastapi_kc_verification_seconds_count": ("fastapi_kc.verification", "count"),
    "fastapi_kc_verification_seconds_sum": ("fastapi_kc.verification", "sum"),
    "fastapi_kc_token_cache_hits_total": ("fastapi_kc.token_cache.hits", "value"),
    "fastapi_kc_token_cache_misses_total": ("fastapi_kc.token_cache.misses", "value"),
    "fastapi_kc_key_set_fetches_total": ("fastapi_kc.key_set.fetches", "value"),
    "fastapi_kc_key_set_age_seconds": ("fastapi_kc.key_set.age", "value"),
    "fastapi_kc_service_token_requests_total": ("fastapi_kc.service_token.requests", "value"),
    "fastapi_kc_revocations_received_total": ("fastapi_kc.revocations.received", "value"),
    "fastapi_kc_introspection_requests_total": ("fastapi_kc.introspection.requests", "value"),
}


@dataclass
class Backend:
    name: str
    metrics: CountingMetrics
    read: Callable[..., float | None]


def prometheus_backend() -> Backend:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry=registry)

    def read(name: str, **labels: str) -> float | None:
        exposition = generate_latest(registry).decode()
        for family in text_string_to_metric_families(exposition):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return None

    return Backend("prometheus", metrics, read)


def otel_backend() -> Backend:
    reader = InMemoryMetricReader()
    metrics = OpenTelemetryMetrics(meter_provider=MeterProvider(metric_readers=[reader]))

    def read(name: str, **labels: str) -> float | None:
        instrument, what = OTEL_NAMES[name]
        data = reader.get_metrics_data()
        points: list[Any] = [
            point
            for resource in (data.resource_metrics if data else ())
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == instrument
            for point in metric.data.data_points
        ]
        for point in points:
            if dict(point.attributes or {}) == labels:
                return float(getattr(point, what))
        return None

    return Backend("otel", metrics, read)


@pytest.fixture(params=["prometheus", "otel"])
def backend(request: pytest.FixtureRequest) -> Backend:
    return prometheus_backend() if request.param == "prometheus" else otel_backend()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def build_app(auth: KeycloakAuth, *, middleware: bool = False, lifespan: bool = True) -> FastAPI:
    """An app with `/me` (`auth.principal`) and `/admin` (realm role `admin`), started by its lifespan or middleware."""
    app = FastAPI(lifespan=auth.lifespan if lifespan else None)

    @app.get("/me")
    async def me(principal: Principal = Depends(auth.principal)) -> dict[str, str]:
        return {"subject": principal.subject}

    @app.get("/admin")
    async def admin(principal: Principal = Depends(auth.require_roles("admin"))) -> dict[str, str]:
        return {"subject": principal.subject}

    if middleware:
        app.add_middleware(KeycloakMiddleware, auth=auth)
    return app
