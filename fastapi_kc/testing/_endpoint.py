"""The realm's token endpoint, in memory: client credentials and standard token exchange.

Answers as Keycloak 26.5 does (field notes, "Keycloak 26.5, observed"): the client and its
credential are checked first (`_clients`; 401 `invalid_client` for a client it does not know,
401 `unauthorized_client` for a wrong secret), then the grant. An exchange needs a valid
access token of this realm whose `aud` names the requesting client; the new token keeps the
user (`sub`, roles, session) and is aimed at the requested audience only, with the requester
as `azp`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qs

import httpx

from fastapi_kc.testing._clients import WRONG_CREDENTIALS, ClientRegistry
from fastapi_kc.testing._tokens import LIFETIME, SERVICE_SCOPES, Realm, SigningKey, exchanged_claims

TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN


class TokenEndpoint:
    """`service_accounts` maps each client that may ask to the options of its service token."""

    def __init__(
        self,
        realm: Realm,
        key: SigningKey,
        clock: Callable[[], float],
        service_token: Callable[..., str],
        clients: ClientRegistry,
    ) -> None:
        self.service_accounts: dict[str, dict[str, Any]] = {}
        self._clients = clients
        self._realm = realm
        self._key = key
        self._clock = clock
        self._service_token = service_token

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = read_form(request)
        client_id = self._clients.authenticate(request, form)
        if client_id is None:
            known = self._clients.claimed(request, form) is not None
            return refusal(401, "unauthorized_client" if known else "invalid_client", WRONG_CREDENTIALS)
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if client_id not in self.service_accounts:
                return refusal(400, "unauthorized_client", "Client not enabled to retrieve service account")
            return self._client_credentials(client_id)
        if grant == TOKEN_EXCHANGE:
            return self._exchange(client_id, form)
        return refusal(400, "unsupported_grant_type", "MockKeycloak issues client-credentials and exchanged tokens")

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
            return refusal(400, "invalid_request", "Invalid token")
        aud = subject.get("aud")
        if client_id not in ([aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []):
            return refusal(403, "access_denied", "Client is not within the token audience")
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


def refusal(status: int, error: str, description: str) -> httpx.Response:
    """Keycloak's error body (RFC 6749 §5.2)."""
    return httpx.Response(status, json={"error": error, "error_description": description})


def read_form(request: httpx.Request) -> dict[str, str]:
    """A form-encoded request body, first value of each field."""
    return {name: values[0] for name, values in parse_qs(request.content.decode()).items()}
