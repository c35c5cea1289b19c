"""Diagnoses of the way to Keycloak: names that do not resolve, refused connections, timeouts,
TLS trust and schemes, and settings that send traffic in the clear.

Each names the URL, how the connection failed, and the setting to change (field notes, "From
other integrations": the causes hidden behind "Failed to obtain access token").
"""

from __future__ import annotations

import socket
import ssl
from typing import Literal

from fastapi_kc._diagnosis import Diagnosis
from fastapi_kc._settings import KeycloakSettings, env_name

NetworkFailure = Literal["dns", "refused", "timeout", "tls", "protocol", "other"]


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


def describe_network_error(settings: KeycloakSettings, url: str, exc: BaseException) -> Diagnosis:
    """`unreachable(...)` for an httpx error, with two cases `classify_network_error` conflates.

    A TLS handshake against a plain-HTTP port ("wrong version number") and a server that hangs
    up on a plain request (an HTTPS port) are a wrong scheme, not an untrusted certificate; a
    certificate for another host name needs another URL, not a CA bundle.
    """
    failure = classify_network_error(exc)
    detail = f"{type(exc).__name__}: {exc}"
    chain = _exception_chain(exc)
    text = " ".join(str(item) for item in chain).lower()
    if _wrong_scheme(chain, text):
        failure = "protocol"
    if failure == "tls" and "hostname mismatch" in text:
        return Diagnosis(
            problem=f"cannot reach Keycloak at {url}: its TLS certificate is for another host name",
            evidence=detail,
            fix=(
                f"use in {env_name('internal_url')} a host name the certificate names, or issue Keycloak a "
                "certificate that names this one (verification is never switched off)"
            ),
        )
    return unreachable(settings, url, failure, detail)


def _wrong_scheme(chain: list[BaseException], text: str) -> bool:
    if any(marker in text for marker in ("wrong version number", "record layer failure", "http_request")):
        return True
    return any(type(item).__name__ == "RemoteProtocolError" for item in chain)


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def bad_ca_bundle(settings: KeycloakSettings, detail: str) -> Diagnosis:
    return Diagnosis(
        problem=f"{env_name('ca_bundle')} cannot be loaded as CA certificates",
        evidence=f"{settings.ca_bundle}: {detail}",
        fix=f"set {env_name('ca_bundle')} to a PEM file holding the certificate of the CA that signed Keycloak's",
    )


def plain_http(field: str, url: str) -> Diagnosis:
    return Diagnosis(
        problem=f"{env_name(field)} uses plain http to a host other than this machine",
        evidence=url,
        fix="acceptable in development only; serve Keycloak over https in production (field notes §6)",
    )
