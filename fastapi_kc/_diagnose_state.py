"""Diagnoses of a running service's state: `auth.health()` and the doctor word it alike (not
started, keys never loaded or too old, the revocation store unreachable).
"""

from __future__ import annotations

from fastapi_kc._diagnosis import Diagnosis
from fastapi_kc._settings import KeycloakSettings, env_name


def not_started() -> Diagnosis:
    return Diagnosis(
        problem="authentication is not started: no token can be verified",
        evidence="KeycloakAuth.start() has not run, or the app has shut down",
        fix="start it with the app: FastAPI(lifespan=auth.lifespan), KeycloakMiddleware, or `async with auth`",
    )


def keys_never_loaded(settings: KeycloakSettings, error: Diagnosis | None) -> Diagnosis:
    return Diagnosis(
        problem="the realm's signing keys were never loaded",
        evidence=error.problem if error is not None else f"no key set fetched from {settings.jwks_url} yet",
        fix=error.fix if error is not None else "wait for the start-up check to finish",
    )


def keys_refresh_overdue(settings: KeycloakSettings, age: float, error: Diagnosis | None) -> Diagnosis:
    """Past `jwks_max_age_seconds`: known keys keep serving (the stale-key window) until `max_stale`."""
    return Diagnosis(
        problem=(
            f"the key set is {age:.0f} s old, past {env_name('jwks_max_age_seconds')} "
            f"({settings.jwks_max_age_seconds:g} s): known keys keep serving for up to "
            f"{env_name('jwks_max_stale_seconds')} ({settings.jwks_max_stale_seconds:g} s), new keys are not learnt"
        ),
        evidence=error.problem if error is not None else "a refresh is due and under way",
        fix=error.fix if error is not None else "none needed if the next refresh succeeds",
    )


def keys_too_old(settings: KeycloakSettings, age: float, error: Diagnosis | None) -> Diagnosis:
    return Diagnosis(
        problem=(
            f"the key set is {age:.0f} s old, past {env_name('jwks_max_stale_seconds')} "
            f"({settings.jwks_max_stale_seconds:g} s): every token is refused with 503"
        ),
        evidence=error.problem if error is not None else f"no successful fetch from {settings.jwks_url}",
        fix=error.fix if error is not None else "check that Keycloak is up and reachable from this service",
    )


def revocation_store_state(state: str) -> Diagnosis | None:
    """The revocation store's state as a problem, or None when it is fine (`memory`, `connected`)."""
    if state == "reconnecting":
        return Diagnosis(
            problem="the shared revocation store is unreachable: logouts received by other replicas are not seen",
            evidence="revocation store state: reconnecting",
            fix=(
                f"check the Redis URL in {env_name('revocation_store')} and that Redis runs; the service "
                "reconnects on its own"
            ),
        )
    if state == "stale":
        return Diagnosis(
            problem="the shared revocation store has been unreachable too long: requests are refused with 503",
            evidence=f"revocation store state: stale (past {env_name('revocation_max_stale_seconds')})",
            fix="bring Redis back; the service reconnects on its own",
        )
    if state in ("not started", "closed"):
        return Diagnosis(
            problem=f"the revocation store is {state}", evidence=f"revocation store state: {state}", fix="start the app"
        )
    return None
