"""The realm's token endpoint, in memory: client credentials and standard token exchange.

Answers as Keycloak 26.5 does (field notes, "Keycloak 26.5, observed"): the client is known
first, then the grant. An exchange needs a valid access token of this realm whose `aud` names
the requesting client; the new token keeps the user (`sub`, roles, session) and is aimed at
the requested audience only, with the requester as `azp`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qs, unquote

import httpx

from fastapi_kc.testing._tokens import LIFETIME, SERVICE_SCOPES, Realm, SigningKey, exchanged_claims

TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN


class TokenEndpoint:
    """`service_accounts` maps each client that may ask to the options of its service token."""

    def __init__(
        self, realm: Realm, key: SigningKey, clock: Callable[[], float], service_token: Callable[..., str]
    ) -> None:
        self.service_accounts: dict[str, dict[str, Any]] = {}
        self._realm = realm
        self._key = key
        self._clock = clock
        self._service_token = service_token

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = {name: values[0] for name, values in parse_qs(request.content.decode()).items()}
        client_id = _basic_user(request.headers.get("Authorization", "")) or form.get("client_id")
        if client_id is None or client_id not in self.service_accounts:
            return _refusal(401, "unauthorized_client", "Invalid client or Invalid client credentials")
        grant = form.get("grant_type")
        if grant == "client_credentials":
            return self._client_credentials(client_id)
        if grant == TOKEN_EXCHANGE:
            return self._exchange(client_id, form)
        return _refusal(400, "unsupported_grant_type", "MockKeycloak issues client-credentials and exchanged tokens")

    def _client_credentials(self, client_id: str) -> httpx.Response:
        options = self.service_accounts[client_id]
        scopes = [*SERVICE_SCOPES, *options.get("scopes", ())]
        token = self._service_token(client_id, **options)
        return httpx.Response(200, json=_issued(token, options.get("expires_in", LIFETIME), scopes))

    def _exchange(self, client_id: str, form: Mapping[str, str]) -> httpx.Response:
        subject = self._key.verified_claims(form.get("subject_token", ""))
        now = self._clock()
        exp = subject.get("exp") if subject is not None else None
        if subject is None or subject.get("typ") != "Bearer" or not isinstance(exp, int) or exp < now:
            return _refusal(400, "invalid_request", "Invalid token")
        aud = subject.get("aud")
        if client_id not in ([aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []):
            return _refusal(403, "access_denied", "Client is not within the token audience")
        requested = form.get("scope", "").split()
        audience = form.get("audience")
        claims = exchanged_claims(subject, self._realm, client_id, audience=audience, scopes=requested, now=now)
        body = _issued(self._key.sign(claims), LIFETIME, claims["scope"].split())
        body["issued_token_type"] = ACCESS_TOKEN_TYPE
        if isinstance(subject.get("sid"), str):
            body["session_state"] = subject["sid"]  # the user's session goes on, as Keycloak says
        return httpx.Response(200, json=body)


def _issued(token: str, lifetime: float, scopes: list[str]) -> dict[str, Any]:
    """A token response with the fields Keycloak's has (compared in test_real_keycloak.py)."""
    return {
        "access_token": token,
        "expires_in": lifetime,
        "refresh_expires_in": 0,
        "token_type": "Bearer",
        "not-before-policy": 0,
        "scope": " ".join(dict.fromkeys(scopes)),
    }


def _refusal(status: int, error: str, description: str) -> httpx.Response:
    """Keycloak's error body (RFC 6749 §5.2)."""
    return httpx.Response(status, json={"error": error, "error_description": description})


def _basic_user(header: str) -> str | None:
    """The client id of `Authorization: Basic`, form-urlencoded as RFC 6749 §2.3.1 asks."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, _ = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return unquote(user.replace("+", " "))
