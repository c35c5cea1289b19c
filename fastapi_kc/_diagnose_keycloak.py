"""Diagnoses of Keycloak's answers at start-up and on key refreshes: the discovery document and
its issuer (field notes §1), HTTP statuses, documents that are not JSON or not a key set, the
realm's signing keys, the realm's path prefix, and a clock that differs from Keycloak's.
"""

from __future__ import annotations

from fastapi_kc._diagnosis import Diagnosis
from fastapi_kc._settings import KeycloakSettings, env_name
from fastapi_kc._text import printable


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
