"""Diagnoses of refused access tokens: why `TokenVerifier` refused one (its `reason`), and what
to change on the client, in Keycloak or in the settings. Claims shown are evidence only; they
may be unverified and are escaped (`printable`).
"""

from __future__ import annotations

from fastapi_kc._diagnosis import Diagnosis
from fastapi_kc._settings import KeycloakSettings, env_name
from fastapi_kc._text import printable


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
