"""Readiness: can this service verify tokens now? `auth.health()` and a router for probes.

Ready means: started, a key set loaded and younger than `jwks_max_stale_seconds` (older keys
are no longer served: every token would get a 503), and a revocation store that still lets
requests through. A key set past `jwks_max_age_seconds` is the stale-key window: still ready,
known keys serve, but a problem is reported (the refresh is failing, or due). Problems are
worded by `_diagnostics`, as the doctor and the start-up errors word them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from fastapi_kc import _diagnostics as diagnose
from fastapi_kc._diagnostics import Diagnosis
from fastapi_kc._settings import KeycloakSettings


@dataclass(frozen=True, slots=True)
class Health:
    """What a readiness probe needs to know about one `KeycloakAuth`; `ready` is the verdict.

    `key_set_age_seconds` is None while no key set was ever loaded; `stale_keys` says the key
    set is past `jwks_max_age_seconds` (serving in the stale-key window); `last_fetch_error` is
    why the last key-set fetch failed (None once one succeeds); `revocation_store` is the
    store's state (`memory`, `connected`, `reconnecting`, `stale`, ...). `problems` are one line
    each: what is wrong, and the fix.
    """

    ready: bool
    started: bool
    keys: int
    key_set_age_seconds: float | None
    stale_keys: bool
    last_fetch_error: str | None
    revocation_store: str
    problems: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what the health router answers with `details=True`."""
        return {**asdict(self), "problems": list(self.problems)}


def assess(
    settings: KeycloakSettings,
    *,
    started: bool,
    keys: int,
    age: float | None,
    error: Diagnosis | None,
    revocation_store: str,
) -> Health:
    """The verdict from the facts; pure, so each case is a plain test."""
    problems: list[Diagnosis] = []
    ready = started
    if not started:
        problems.append(diagnose.not_started())
    if age is None or not math.isfinite(age):
        ready = False
        if started:
            problems.append(diagnose.keys_never_loaded(settings, error))
        age = None
    elif age > settings.jwks_max_stale_seconds:
        ready = False
        problems.append(diagnose.keys_too_old(settings, age, error))
    elif age > settings.jwks_max_age_seconds:
        problems.append(diagnose.keys_refresh_overdue(settings, age, error))
    store = diagnose.revocation_store_state(revocation_store) if started else None
    if store is not None:
        problems.append(store)
        ready = ready and revocation_store != "stale"
    return Health(
        ready=ready,
        started=started,
        keys=keys,
        key_set_age_seconds=age,
        stale_keys=age is not None and age > settings.jwks_max_age_seconds,
        last_fetch_error=error.problem if error is not None else None,
        revocation_store=revocation_store,
        problems=tuple(f"{d.problem} (found: {d.evidence}; fix: {d.fix})" for d in problems),
    )


def health_router(health: Callable[[], Health], path: str, *, details: bool) -> APIRouter:
    """`GET path`: 200 when ready, 503 when not; the body says which, and with `details` why."""
    router = APIRouter()

    async def readiness() -> JSONResponse:
        report = health()
        body = report.as_dict() if details else {"ready": report.ready}
        return JSONResponse(body, status_code=200 if report.ready else 503, headers={"Cache-Control": "no-store"})

    router.add_api_route(path, readiness, methods=["GET"], include_in_schema=False)
    return router
