"""Diagnoses of Keycloak's refusals of this service as a client: the client-credentials grant,
and how the client authenticated (secret, signed JWT). Keycloak 26.5 answers several causes
with the same error code, so the description tells them apart; the secret is never shown.
"""

from __future__ import annotations

from fastapi_kc._diagnosis import Diagnosis
from fastapi_kc._settings import KeycloakSettings, env_name
from fastapi_kc._text import printable


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
