"""The realm's token introspection endpoint (RFC 7662), in memory, as Keycloak 26.5 answers it.

A confidential client asks about a token. A client the mock does not know, or a wrong
credential, gets 401 `invalid_request` "Authentication failed." (Keycloak 26.5 answers every
client-authentication failure there alike). An active token is answered with its claims plus
`client_id` (its `azp`), `username` (its `preferred_username`), `token_type` and `active: true`;
a token this realm did not sign, an expired one, anything but an access token, or a token of a
session ended by `MockKeycloak.end_session`, with `{"active": false}` only. Compared with the
real endpoint in test_real_keycloak.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from fastapi_kc.testing._clients import ClientRegistry
from fastapi_kc.testing._endpoint import read_form, refusal
from fastapi_kc.testing._tokens import SigningKey


class IntrospectionEndpoint:
    """`ended` holds the sessions (`sid`) and, for tokens without one, subjects logged out."""

    def __init__(self, key: SigningKey, clock: Callable[[], float], clients: ClientRegistry) -> None:
        self.ended: set[str] = set()
        self._key = key
        self._clock = clock
        self._clients = clients

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = read_form(request)
        if self._clients.authenticate(request, form) is None:
            return refusal(401, "invalid_request", "Authentication failed.")
        claims = self._active_claims(form.get("token", ""))
        if claims is None:
            return httpx.Response(200, json={"active": False})
        answer = {
            **claims,
            "client_id": claims.get("azp"),
            "username": claims.get("preferred_username"),
            "token_type": "Bearer",
            "active": True,
        }
        return httpx.Response(200, json={name: value for name, value in answer.items() if value is not None})

    def _active_claims(self, token: str) -> dict[str, Any] | None:
        claims = self._key.verified_claims(token)
        if claims is None or claims.get("typ") != "Bearer":
            return None
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= self._clock():
            return None
        if claims.get("sid") in self.ended or claims.get("sub") in self.ended:
            return None
        return claims
