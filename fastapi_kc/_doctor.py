"""`fastapi-kc doctor`: prove the settings against Keycloak, check by check, and say what to fix.

This module does the I/O; the report model is `_doctor_report`, the token steps `_doctor_token`,
and every message comes from `_diagnostics`, so a failure reads here as the service would raise
or log it. The checks run in order and a check whose input is missing is skipped, saying why:
settings, reach (DNS, connect, TLS), discovery, issuer, key set, clock, then an optional token
given by the user and an optional client-credentials token of `KEYCLOAK_CLIENT_ID`.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from fastapi_kc import _diagnostics as diagnose
from fastapi_kc._claims import json_number
from fastapi_kc._diagnostics import Diagnosis
from fastapi_kc._doctor_report import Check, Report
from fastapi_kc._doctor_token import check_token
from fastapi_kc._errors import ConfigurationError, InvalidTokenError, TokenRequestError
from fastapi_kc._http import REQUEST_HEADERS, FetchError, create_http_client, get_json
from fastapi_kc._jws import b64url_decode, decode_json_object
from fastapi_kc._keys import KeySet, key_set_from_jwks
from fastapi_kc._service_token import ServiceTokenClient
from fastapi_kc._settings import KeycloakSettings, _is_loopback, env_name
from fastapi_kc._text import printable


async def run_doctor(
    settings: KeycloakSettings | None = None,
    *,
    token: str | None = None,
    client_credentials: bool = False,
    http_client: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.time,
) -> Report:
    """Every check, in order. `settings` None reads `KEYCLOAK_*` like the service does.

    Never raises for what it diagnoses: each problem is a failed check of the report.
    """
    checks: list[Check] = []
    if settings is None:
        try:
            settings = KeycloakSettings()
        except ConfigurationError as exc:
            checks.append(Check.failed("settings", _invalid_settings(exc)))
            if token is not None:
                checks.append(Check.skipped("token", "the settings are invalid"))
            return Report.of(checks)
    checks += _settings_checks(settings)
    try:
        client = http_client or create_http_client(settings)
    except (ssl.SSLError, OSError, ConfigurationError) as exc:
        checks.append(Check.failed("reach", diagnose.bad_ca_bundle(settings, str(exc))))
        return Report.of(checks)
    try:
        run = _Run(settings, client, clock)
        checks += await run.keycloak_checks()
        service_token = await run.request_service_token() if client_credentials and run.reachable else None
        checks.append(run.clock_check(service_token))
        if token is not None:
            checks += check_token(token, settings, run.keys, now=clock())
        if client_credentials:
            checks += run.service_token_checks(service_token)
    finally:
        if client is not http_client:
            await client.aclose()
    return Report.of(checks)


def _invalid_settings(exc: ConfigurationError) -> Diagnosis:
    return Diagnosis(
        problem="the KEYCLOAK_* settings are invalid",
        evidence=str(exc),
        fix="set each variable named above in the service's environment (see the settings table in the README)",
    )


def _settings_checks(settings: KeycloakSettings) -> list[Check]:
    evidence = (
        f"issuer {settings.issuer}, internal URL {settings.internal_url}, audience {','.join(settings.audience)}, "
        f"algorithms {','.join(settings.algorithms)}, leeway {settings.leeway_seconds:g} s"
        + (f", CA bundle {settings.ca_bundle}" if settings.ca_bundle else "")
    )
    checks = [Check.passed("settings", "KEYCLOAK_* settings are valid", evidence)]
    for name in dict.fromkeys(("public_url", "internal_url")):
        url = getattr(settings, name)
        parts = urlsplit(url)
        if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
            checks.append(Check.warned(f"settings.{name}", diagnose.plain_http(name, url)))
    return checks


@dataclass
class _ServiceToken:
    value: str | None = field(repr=False)  # a live token: never in a repr
    response: httpx.Response | None
    received_at: float  # our clock, half-way through the request
    error: TokenRequestError | ConfigurationError | None = None


@dataclass
class _Run:
    """The evidence gathered so far; each step reads what the previous ones found."""

    settings: KeycloakSettings
    client: httpx.AsyncClient
    clock: Callable[[], float]
    reachable: bool = False
    keys: KeySet | None = None
    date: tuple[str, float] | None = None  # Keycloak's Date header, and our time when it was sent

    async def keycloak_checks(self) -> list[Check]:
        reach = await self._reach()
        if not self.reachable:
            because = "Keycloak cannot be reached"
            return [reach, *(Check.skipped(name, because) for name in ("discovery", "issuer", "keys"))]
        checks = [reach]
        document, discovery = await self._discovery()
        checks.append(discovery)
        checks.append(Check.skipped("issuer", "no discovery document") if document is None else self._issuer(document))
        if document is None:
            checks.append(Check.skipped("keys", "the realm's URL failed above"))
        else:
            checks += await self._keys()
        return checks

    async def _reach(self) -> Check:
        url = self.settings.discovery_url
        started, start = self.clock(), time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.http_timeout_seconds):
                async with self.client.stream("GET", url, headers=REQUEST_HEADERS, follow_redirects=False) as response:
                    status, date = response.status_code, response.headers.get("Date")
        except TimeoutError:
            detail = f"no answer in {self.settings.http_timeout_seconds:g} s"
            return Check.failed("reach", diagnose.unreachable(self.settings, url, "timeout", detail))
        except httpx.TimeoutException as exc:
            return Check.failed("reach", diagnose.unreachable(self.settings, url, "timeout", type(exc).__name__))
        except httpx.HTTPError as exc:
            return Check.failed("reach", diagnose.describe_network_error(self.settings, url, exc))
        elapsed = time.perf_counter() - start
        self.reachable = True
        if date:
            self.date = (date, started + elapsed / 2)
        tls = ", TLS certificate verified" if url.startswith("https://") else ""
        evidence = f"GET {url} answered HTTP {status} in {elapsed * 1000:.0f} ms{tls}"
        return Check.passed("reach", f"Keycloak answers at {self.settings.internal_url}", evidence)

    async def _discovery(self) -> tuple[dict[str, Any] | None, Check]:
        url = self.settings.discovery_url
        try:
            document = await get_json(self.client, self.settings, url, what="discovery document")
        except FetchError as exc:
            diagnosis = exc.diagnosis
            if exc.status_code == 404:
                diagnosis = await self._realm_elsewhere(diagnosis)
            return None, Check.failed("discovery", diagnosis)
        if not isinstance(document, dict):
            diagnosis = diagnose.not_json(url, "discovery document", "application/json", printable(document, 60))
            return None, Check.failed("discovery", diagnosis)
        evidence = f"GET {url} answered HTTP 200; issuer {printable(document.get('issuer'), 200, quoted=True)}"
        return document, Check.passed("discovery", "the realm's discovery document is served", evidence)

    async def _realm_elsewhere(self, diagnosis: Diagnosis) -> Diagnosis:
        """After a 404: does the realm answer with the other `/auth` convention? Then say so."""
        other = "" if self.settings.auth_path else "/auth"
        url = f"{self.settings.internal_url}{other}/realms/{self.settings.realm}/.well-known/openid-configuration"
        try:
            await get_json(self.client, self.settings, url, what="discovery document")
        except FetchError:
            return diagnosis
        return diagnose.realm_found_elsewhere(self.settings, diagnosis, url, other)

    def _issuer(self, document: dict[str, Any]) -> Check:
        found = document.get("issuer")
        if found != self.settings.issuer:
            return Check.failed("issuer", diagnose.issuer_mismatch(self.settings, found))
        return Check.passed("issuer", "Keycloak's issuer is the one this service expects", f"issuer {found}")

    async def _keys(self) -> list[Check]:
        url = self.settings.jwks_url
        try:
            document = await get_json(self.client, self.settings, url, what="key set")
            keys = key_set_from_jwks(document, self.settings.algorithms)
        except FetchError as exc:
            return [Check.failed("keys", exc.diagnosis)]
        except ValueError as exc:
            return [Check.failed("keys", diagnose.not_a_key_set(url, str(exc)))]
        self.keys = keys
        if not len(keys):
            return [Check.failed("keys", diagnose.no_usable_keys(self.settings, keys.skipped))]
        allowed = ",".join(self.settings.algorithms)
        evidence = f"{url}: {keys.describe()}" + "".join(f"; not used: {reason}" for reason in keys.skipped)
        checks = [Check.passed("keys", f"{len(keys)} signing key(s) usable with {allowed}", evidence)]
        others = _other_signing_algorithms(document, self.settings.algorithms)
        if others:
            checks.append(Check.warned("keys.algorithms", diagnose.other_signing_keys(self.settings, others)))
        return checks

    async def request_service_token(self) -> _ServiceToken:
        """One client-credentials request through `ServiceTokenClient`, its refusal kept for diagnosis."""
        responses: list[httpx.Response] = []

        async def keep(response: httpx.Response) -> None:
            if str(response.request.url) == self.settings.token_url:
                await response.aread()
                responses.append(response)

        hooks = self.client.event_hooks
        self.client.event_hooks = {**hooks, "response": [*hooks.get("response", []), keep]}
        started = self.clock()
        try:
            async with ServiceTokenClient(self.settings, http_client=self.client, max_attempts=1) as tokens:
                value = await tokens.get_token()
        except (TokenRequestError, ConfigurationError) as exc:
            return _ServiceToken(None, responses[-1] if responses else None, self.clock(), exc)
        finally:
            self.client.event_hooks = hooks
        return _ServiceToken(value, responses[-1] if responses else None, (started + self.clock()) / 2)

    def clock_check(self, service_token: _ServiceToken | None) -> Check:
        """Skew between this machine and Keycloak: its Date header, else a fresh token's `iat`."""
        if not self.reachable:
            return Check.skipped("clock", "Keycloak cannot be reached")
        if self.date is not None:
            header, ours = self.date
            try:
                theirs = parsedate_to_datetime(header).timestamp() + 0.5  # Date has whole seconds
            except (TypeError, ValueError):
                return Check.skipped("clock", f"Keycloak's Date header is not a date: {header!r:.60}")
            return self._skew(ours - theirs, f"Date: {header}")
        iat = _issued_at(service_token)
        if iat is not None and service_token is not None:
            return self._skew(service_token.received_at - (iat + 0.5), f"iat {iat:.0f} of a fresh service token")
        if service_token is None:
            return Check.skipped(
                "clock", "Keycloak sent no Date header; run with --client-credentials to compare with a fresh token"
            )
        return Check.skipped("clock", "Keycloak sent no Date header and issued no service token to compare with")

    def _skew(self, skew: float, source: str) -> Check:
        leeway = self.settings.leeway_seconds
        evidence = f"this machine is {skew:+.1f} s from Keycloak ({source}); leeway {leeway:g} s"
        if abs(skew) > leeway:
            return Check.failed("clock", diagnose.clock_skew(self.settings, skew, source))
        if abs(skew) > max(2.0, leeway / 2):
            return Check.warned("clock", diagnose.clock_skew(self.settings, skew, source))
        return Check.passed("clock", "clocks agree within the leeway", evidence)

    def service_token_checks(self, result: _ServiceToken | None) -> list[Check]:
        if result is None:
            return [Check.skipped("service_token", "Keycloak cannot be reached")]
        if result.value is None:
            return [Check.failed("service_token", self._refusal(result))]
        status = result.response.status_code if result.response is not None else 200
        method = self.settings.client_auth_method
        evidence = f"POST {self.settings.token_url} answered HTTP {status} ({method}; no secret or key shown)"
        request = Check.passed("service_token", f"a token was issued to client {self.settings.client_id!r}", evidence)
        return [request, *check_token(result.value, self.settings, self.keys, now=self.clock(), prefix="service_token")]

    def _refusal(self, result: _ServiceToken) -> Diagnosis:
        error = result.error
        response = result.response
        if response is not None and response.status_code != 200:
            body = _json_object(response)
            return diagnose.token_request_refused(
                self.settings, response.status_code, _text(body.get("error")), _text(body.get("error_description"))
            )
        if error is not None and isinstance(error.__cause__, httpx.HTTPError):
            return diagnose.describe_network_error(self.settings, self.settings.token_url, error.__cause__)
        fix = f"set {env_name('client_id')} and {env_name('client_secret')} of a confidential client"
        return Diagnosis(problem=str(error), evidence=f"token endpoint {self.settings.token_url}", fix=fix)


def _other_signing_algorithms(document: Any, allowed: tuple[str, ...]) -> list[str]:
    """`kid (alg)` of the realm's signing keys whose algorithm is not allowed here."""
    found = []
    for entry in document.get("keys", []) if isinstance(document, dict) else []:
        if isinstance(entry, dict) and entry.get("use", "sig") == "sig":
            alg = entry.get("alg")
            if isinstance(alg, str) and alg not in allowed:
                found.append(f"{printable(entry.get('kid'), 80)} ({printable(alg, 20)})")
    return found


def _issued_at(result: _ServiceToken | None) -> float | None:
    """`iat` of a token just issued, read without verification: only Keycloak's clock is wanted."""
    if result is None or result.value is None or result.value.count(".") != 2:
        return None
    try:
        iat = decode_json_object(b64url_decode(result.value.split(".")[1]), "payload").get("iat")
    except InvalidTokenError:
        return None
    return json_number(iat)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
