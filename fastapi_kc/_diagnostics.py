"""What went wrong between this service and Keycloak, and how to fix it: one source of truth.

The start-up checks of `KeycloakAuth` raise `ConfigurationError` with these messages, the key
cache logs them, and `fastapi-kc doctor` prints them: a failure reads the same wherever it
is seen. Each message names the URL, what was expected, what was found, and the fix.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Literal

from fastapi_kc._settings import KeycloakSettings, env_name

NetworkFailure = Literal["dns", "refused", "timeout", "tls", "protocol", "other"]


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A problem found: what it is, the evidence, and the fix."""

    problem: str
    evidence: str
    fix: str

    def __str__(self) -> str:
        return f"{self.problem}\n  found: {self.evidence}\n  fix: {self.fix}"


def issuer_mismatch(settings: KeycloakSettings, found: object) -> Diagnosis:
    """Keycloak issues tokens under another URL than the one we expect (field notes §1)."""
    return Diagnosis(
        problem=(
            f"Keycloak's issuer does not match ours: tokens would carry iss={found!r} "
            f"but this service expects iss={settings.issuer!r}"
        ),
        evidence=f"discovery document at {settings.discovery_url} reports issuer {found!r}",
        fix=(
            f"set {env_name('public_url')} to the URL browsers use to reach Keycloak (the issuer minus "
            f"'{settings.auth_path}/realms/{settings.realm}'), or set Keycloak's `hostname` option "
            f"(KC_HOSTNAME) to {settings.public_url!r}; keep {env_name('internal_url')} for the URL "
            "this service uses to reach Keycloak"
        ),
    )


def http_status(settings: KeycloakSettings, url: str, what: str, status: int, location: str | None) -> Diagnosis:
    """Keycloak answered `status` where a JSON document was expected."""
    evidence = f"GET {url} answered HTTP {status}"
    if 300 <= status < 400:
        return Diagnosis(
            problem=f"the {what} URL redirects (redirects are not followed)",
            evidence=f"{evidence}, Location: {location or '(none)'}",
            fix=(
                f"point {env_name('internal_url')} at the final address (scheme, host, port and path prefix) "
                "Keycloak answers on directly"
            ),
        )
    if status == 404:
        return Diagnosis(
            problem=f"the {what} was not found: realm {settings.realm!r} does not exist at this URL",
            evidence=evidence,
            fix=(
                f"check {env_name('realm')} (realm names are case-sensitive) and {env_name('internal_url')}; "
                f"Keycloak older than 17 serves realms under /auth: set {env_name('auth_path')}=/auth"
                + (f" (it is {settings.auth_path!r} now)" if settings.auth_path else "")
            ),
        )
    if status in (401, 403):
        return Diagnosis(
            problem=f"the {what} is protected by something in front of Keycloak",
            evidence=evidence,
            fix=f"{env_name('internal_url')} must reach Keycloak's realm endpoints without a login (proxy rules)",
        )
    return Diagnosis(
        problem=f"Keycloak failed to serve the {what}",
        evidence=evidence,
        fix="check Keycloak's health and logs; the service retries the key set on its own",
    )


def not_json(url: str, what: str, content_type: str | None, snippet: str) -> Diagnosis:
    return Diagnosis(
        problem=f"the {what} is not a JSON document",
        evidence=f"GET {url} answered Content-Type {content_type or '(none)'}, starting {snippet!r}",
        fix=f"{env_name('internal_url')} must point at Keycloak itself, not at a login page or another proxy path",
    )


def not_a_key_set(url: str, detail: str) -> Diagnosis:
    return Diagnosis(
        problem="the key set is not a JWKS document",
        evidence=f"GET {url}: {detail}",
        fix=f'{env_name("internal_url")} must point at Keycloak itself; its certs endpoint serves {{"keys": [...]}}',
    )


def too_large(url: str, what: str, limit: int) -> Diagnosis:
    return Diagnosis(
        problem=f"the {what} is larger than {limit} bytes",
        evidence=f"GET {url} sent more than {limit} bytes",
        fix=f"{env_name('internal_url')} must point at Keycloak; a realm's documents are a few kilobytes",
    )


def unreachable(settings: KeycloakSettings, url: str, failure: NetworkFailure, detail: str) -> Diagnosis:
    """Keycloak could not be reached at all; the hint depends on how the connection failed."""
    fixes: dict[NetworkFailure, tuple[str, str]] = {
        "dns": (
            "the host name does not resolve",
            f"check {env_name('internal_url')}; inside Docker use the service name (e.g. http://keycloak:8080)",
        ),
        "refused": (
            "the connection was refused: nothing listens there",
            f"check the port of {env_name('internal_url')} and that Keycloak runs; inside a container "
            "`localhost` is the container itself, not Keycloak",
        ),
        "timeout": (
            f"no answer within {settings.http_timeout_seconds:g} s",
            f"check that {env_name('internal_url')} is reachable from this host (firewall, proxy), or raise "
            f"{env_name('http_timeout_seconds')}",
        ),
        "tls": (
            "the TLS certificate is not trusted",
            f"set {env_name('ca_bundle')} to the PEM file of the CA that signed Keycloak's certificate "
            "(verification is never switched off)",
        ),
        "protocol": (
            "the server does not speak the expected protocol",
            f"check the scheme of {env_name('internal_url')} (http:// or https://) and its port",
        ),
        "other": ("the request failed", f"check {env_name('internal_url')}"),
    }
    problem, fix = fixes[failure]
    return Diagnosis(problem=f"cannot reach Keycloak at {url}: {problem}", evidence=detail, fix=fix)


def no_usable_keys(settings: KeycloakSettings, skipped: tuple[str, ...]) -> Diagnosis:
    return Diagnosis(
        problem=(
            f"the realm publishes no signing key usable with {env_name('algorithms')}={','.join(settings.algorithms)}"
        ),
        evidence=f"{settings.jwks_url}: " + ("; ".join(skipped) if skipped else "no keys"),
        fix=(
            f"allow the realm's algorithm in {env_name('algorithms')} (e.g. RS256,ES256), or add a key "
            "provider for an allowed algorithm in Keycloak (Realm settings > Keys)"
        ),
    )


def classify_network_error(exc: BaseException) -> NetworkFailure:
    """Which kind of network failure `exc` (an httpx error and its causes) is."""
    seen: set[int] = set()
    current: BaseException | None = exc
    text = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return "tls"
        if isinstance(current, socket.gaierror):
            return "dns"
        if isinstance(current, ConnectionRefusedError):
            return "refused"
        text += f" {current}"
        current = current.__cause__ or current.__context__
    lowered = text.lower()
    if "timed out" in lowered or "timeout" in type(exc).__name__.lower():
        return "timeout"
    if "certificate verify failed" in lowered or "ssl" in lowered:
        return "tls"
    if any(
        m in lowered for m in ("name or service not known", "name resolution", "nodename nor servname", "getaddrinfo")
    ):
        return "dns"
    if "connection refused" in lowered or "errno 111" in lowered or "connect call failed" in lowered:
        return "refused"
    if "protocol" in lowered or "wrong version number" in lowered:
        return "protocol"
    return "other"
