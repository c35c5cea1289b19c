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
from fastapi_kc._text import printable

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
            f"Keycloak's issuer does not match ours: tokens would carry iss={printable(found, 200, quoted=True)} "
            f"but this service expects iss={settings.issuer!r}"
        ),
        evidence=f"discovery document at {settings.discovery_url} reports issuer {printable(found, 200, quoted=True)}",
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
            evidence=f"{evidence}, Location: {printable(location, 200) if location else '(none)'}",
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
        evidence=(
            f"GET {url} answered Content-Type {printable(content_type, 80) if content_type else '(none)'}, "
            f"starting {printable(snippet, 120, quoted=True)}"
        ),
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


# --- added for `fastapi-kc doctor`; the service can log the same texts --------------------------


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


def realm_found_elsewhere(settings: KeycloakSettings, diagnosis: Diagnosis, url: str, auth_path: str) -> Diagnosis:
    """A 404 (`diagnosis`) for the realm, while the realm answers at `url` under another path prefix."""
    return Diagnosis(
        problem=diagnosis.problem,
        evidence=f"{diagnosis.evidence}; but GET {url} answered HTTP 200",
        fix=(
            (f"set {env_name('auth_path')}={auth_path}" if auth_path else f"unset {env_name('auth_path')}")
            + ": this Keycloak serves realms "
            + ("under /auth (Keycloak older than 17)" if auth_path else "without the /auth prefix (Keycloak 17+)")
        ),
    )


def bad_ca_bundle(settings: KeycloakSettings, detail: str) -> Diagnosis:
    return Diagnosis(
        problem=f"{env_name('ca_bundle')} cannot be loaded as CA certificates",
        evidence=f"{settings.ca_bundle}: {detail}",
        fix=f"set {env_name('ca_bundle')} to a PEM file holding the certificate of the CA that signed Keycloak's",
    )


def other_signing_keys(settings: KeycloakSettings, keys: list[str]) -> Diagnosis:
    """The realm publishes signing keys whose algorithm is not allowed: fine unless it signs with them."""
    return Diagnosis(
        problem=f"the realm also publishes signing keys that {env_name('algorithms')} does not allow",
        evidence=f"{settings.jwks_url}: " + "; ".join(keys),
        fix=(
            "tokens signed with them are refused: if the realm signs access tokens with that algorithm (Realm "
            f"settings > Tokens > Default signature algorithm), add it to {env_name('algorithms')}"
        ),
    )


def plain_http(field: str, url: str) -> Diagnosis:
    return Diagnosis(
        problem=f"{env_name(field)} uses plain http to a host other than this machine",
        evidence=url,
        fix="acceptable in development only; serve Keycloak over https in production (field notes §6)",
    )


def clock_skew(settings: KeycloakSettings, skew: float, date_header: str) -> Diagnosis:
    """This host's clock differs from Keycloak's by `skew` seconds (positive: ours is ahead)."""
    direction = "ahead of" if skew > 0 else "behind"
    effect = "tokens expire early here" if skew > 0 else "fresh tokens look issued in the future (iat) or not yet valid"
    return Diagnosis(
        problem=(
            f"this machine's clock is {abs(skew):.0f} s {direction} Keycloak's; "
            f"{env_name('leeway_seconds')} tolerates {settings.leeway_seconds:g} s"
        ),
        evidence=f"Keycloak's Date header: {date_header}; beyond the leeway {effect}",
        fix="synchronise the clocks of this machine and Keycloak's (NTP, e.g. chrony or systemd-timesyncd)",
    )


def unknown_kid(settings: KeycloakSettings, kid: object, known: str) -> Diagnosis:
    return Diagnosis(
        problem=f"the token's key (kid {printable(kid, 80, quoted=True)}) is not one of the realm's signing keys",
        evidence=f"{settings.jwks_url} has: {known}",
        fix=(
            f"the token comes from another realm or Keycloak than {settings.issuer!r}, or its key was removed "
            "from the realm (Realm settings > Keys); get a new token from this realm"
        ),
    )


def token_refused(settings: KeycloakSettings, reason: str, description: str, claims: dict[str, object]) -> Diagnosis:
    """Why `TokenVerifier` refuses a token (its `InvalidTokenError.reason`), with what to change.

    `claims` may be unverified: they are shown as evidence, never trusted.
    """
    aud, azp, iss, typ = (claims.get(name) for name in ("aud", "azp", "iss", "typ"))
    audiences = ",".join(settings.audience)
    causes: dict[str, tuple[str, str]] = {
        "issuer": (
            f"iss is {printable(iss, 200, quoted=True)}, expected {settings.issuer!r}",
            "Keycloak writes into iss the URL the client used to get the token: clients must get tokens "
            f"through {settings.public_url!r}, or set {env_name('public_url')} to that URL (or fix Keycloak's "
            "`hostname` option so every client sees one URL)",
        ),
        "audience": (
            f"aud is {printable(aud, 200, quoted=True)}, expected one of {audiences!r}; azp (the client the token "
            f"was issued to) is {printable(azp, 80, quoted=True)}",
            f"add an audience mapper to the client {printable(azp, 80, quoted=True)} (Keycloak: Clients > "
            f"{printable(azp, 80)} > Client scopes > {printable(azp, 80)}-dedicated > Add mapper > By configuration "
            "> Audience, Included Client Audience "
            f"{settings.audience[0]!r}), or set {env_name('audience')} if this API is known by another name",
        ),
        "token_type": (
            f"typ is {printable(typ, 80, quoted=True)}, expected 'Bearer'",
            "send the access_token of the token response, not the id_token or refresh_token",
        ),
        "expired": (
            f"exp {printable(claims.get('exp'), 40)} is in the past (leeway {settings.leeway_seconds:g} s)",
            "get a new token: access tokens live minutes (Realm settings > Tokens); clients refresh them",
        ),
        "not_yet_valid": (
            f"nbf {printable(claims.get('nbf'), 40)} is in the future (leeway {settings.leeway_seconds:g} s)",
            "synchronise this machine's clock with Keycloak's (NTP)",
        ),
        "issued_in_future": (
            f"iat {printable(claims.get('iat'), 40)} is in the future (leeway {settings.leeway_seconds:g} s)",
            f"synchronise this machine's clock with Keycloak's (NTP), or raise {env_name('leeway_seconds')}",
        ),
        "algorithm": (
            f"allowed: {','.join(settings.algorithms)}",
            f"add the realm's signature algorithm to {env_name('algorithms')}, or change the realm's default "
            "signature algorithm (Realm settings > Tokens)",
        ),
        "signature": (
            "the signature does not verify with the realm's key of the token's kid",
            f"the token was altered or copied incompletely, or signed by another Keycloak; get a new token from "
            f"{settings.issuer!r}",
        ),
        "malformed": (
            "a compact JWS is three base64url parts separated by dots, the first a JSON header",
            "send the access_token exactly as Keycloak returned it (no quotes, no line breaks, nothing cut off)",
        ),
        "too_large": (
            f"{env_name('max_token_bytes')} is {settings.max_token_bytes}",
            f"raise {env_name('max_token_bytes')}, or map fewer claims (groups, roles) into access tokens",
        ),
        "bound_token": (
            "the token has a cnf claim (DPoP or mTLS binding)",
            "this API accepts bearer tokens only: turn off DPoP / certificate-bound tokens for the client",
        ),
        "subject": (
            "sub is missing",
            "add the `basic` client scope to the client (Keycloak 25+ puts sub there)",
        ),
    }
    evidence, fix = causes.get(reason, (f"reason: {reason}", "send an unmodified access token issued by this realm"))
    return Diagnosis(problem=description, evidence=evidence, fix=fix)


def token_request_refused(
    settings: KeycloakSettings, status: int, error: str | None, description: str | None
) -> Diagnosis:
    """Keycloak refused the client-credentials request of `KEYCLOAK_CLIENT_ID` (never shows the secret)."""
    client = settings.client_id
    lowered = (description or "").lower()
    found = f"POST {settings.token_url} answered HTTP {status}" + (f" {printable(error, 80)}" if error else "")
    found += f" ({printable(description, 200)})" if description else ""
    if (refusal := client_authentication_refused(settings, status, error, lowered)) is not None:
        problem, fix = refusal
    elif "public client" in lowered:
        problem = f"client {client!r} is a public client: it has no secret and no service account"
        fix = f"use a confidential client in {env_name('client_id')} (Clients > {client} > Client authentication: On)"
    elif "service account" in lowered:
        problem = f"client {client!r} has no service account"
        fix = f"enable 'Service accounts roles' for {client!r} (Keycloak: Clients > {client} > Capability config)"
    elif "disabled" in lowered or error == "invalid_client":
        # Keycloak answers an unknown and a disabled client alike (invalid_client).
        problem = f"Keycloak knows no enabled client {client!r} in realm {settings.realm!r}: unknown or disabled"
        fix = (
            f"check {env_name('client_id')} (client ids are case-sensitive) and that the client is enabled "
            f"(Keycloak: Clients > {client} > Enabled)"
        )
    elif status in (400, 401) and error == "unauthorized_client":
        problem = f"Keycloak refuses the secret of client {client!r}"
        fix = (
            f"copy the client's secret into {env_name('client_secret')} (Keycloak: Clients > {client} > Credentials; "
            "a regenerated secret replaces the old one)"
        )
    elif status == 429:
        problem = "Keycloak is rate-limiting token requests"
        fix = "wait and retry; ServiceTokenClient caches the token and backs off"
    else:
        problem = f"Keycloak refused the client-credentials request of {client!r}"
        fix = "check Keycloak's logs for the client-credentials request (type CLIENT_LOGIN_ERROR)"
    return Diagnosis(problem=problem, evidence=found, fix=fix)


def client_authentication_refused(
    settings: KeycloakSettings, status: int, error: str | None, lowered: str
) -> tuple[str, str] | None:
    """Keycloak refused how the client authenticated (its description `lowered`); None if it did not.

    Keycloak answers these with `invalid_client` or `unauthorized_client`, the same codes as an
    unknown client, so the description tells them apart (observed with Keycloak 26.5).
    """
    client, method = settings.client_id, settings.client_auth_method
    method_variable = env_name("client_auth_method")
    key_file, key_id = env_name("client_private_key_file"), env_name("client_key_id")
    if "client_assertion_type is missing" in lowered:
        return (
            f"client {client!r} authenticates with a signed JWT in Keycloak, but {method_variable} is {method}",
            f"set {method_variable}=private_key_jwt ('Signed JWT', with {key_file}) or client_secret_jwt ('Signed "
            f"JWT with client secret'), or set Clients > {client} > Credentials > Client Authenticator to "
            "'Client Id and Secret'",
        )
    if "unable to load public key" in lowered:
        return (
            f"Keycloak has no public key of client {client!r} for the assertion's kid "
            f"({key_id}={settings.client_key_id or '(not set)'})",
            f"register the public key of {key_file} in Keycloak (Clients > {client} > Keys: JWKS URL, or Import "
            f"key) and set {key_id} to its kid",
        )
    if "signature on jwt token by client secret" in lowered:
        return (
            f"Keycloak refuses the client_secret_jwt assertion of {client!r}: signed with another secret",
            f"copy the client's secret into {env_name('client_secret')} (Keycloak: Clients > {client} > Credentials)",
        )
    if "signature on jwt token failed" in lowered:
        return (
            f"Keycloak refuses the signature of {client!r}'s assertion: {key_file} does not match the public key "
            "registered for the client",
            f"register the public key of {key_file} in Keycloak (Clients > {client} > Keys), or point {key_file} "
            "at the private key of the registered one",
        )
    if "invalid token audience" in lowered:
        return (
            f"Keycloak refuses the assertion's audience {settings.issuer!r}",
            f"set {env_name('public_url')} so that the issuer equals Keycloak's (the assertion is addressed to it)",
        )
    if method != "client_secret_basic" and status == 401 and error == "unauthorized_client":
        return (
            f"Keycloak does not accept {method} for client {client!r}",
            f"set Clients > {client} > Credentials > Client Authenticator to "
            + ("'Signed JWT'" if method == "private_key_jwt" else "'Signed JWT with client secret'")
            + f", or {method_variable} to what the client uses",
        )
    return None


# --- the state of a running service: `auth.health()` and the doctor word it alike ---------------


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
