"""Which clients the in-memory Keycloak knows, and how each proves itself.

A client's credential comes from the settings the mock was given (the auth's own client, the
clients of attached `ServiceTokenClient`s) or from `MockKeycloak.service_account(...,
client_secret=...)`. It is checked at the token and introspection endpoints as Keycloak checks
it: the secret in `Authorization: Basic` or the form (`client_secret_basic`/`_post`), or a
signed client assertion (RFC 7523: HS256 under the secret, or the client's private key). A
client registered without a credential takes any, so a test can ask for tokens of a client it
made up. A wrong credential gets Keycloak 26.5's refusal (compared in test_real_keycloak.py).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Final
from urllib.parse import unquote

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from fastapi_kc import KeycloakSettings
from fastapi_kc._client_auth import ASSERTION_TYPE, SigningKey, _load_private_key

# Keycloak 26.5 answers a known client with a wrong credential, and an unknown client, alike.
WRONG_CREDENTIALS: Final = "Invalid client or Invalid client credentials"


class ClientRegistry:
    """Client id -> its secret or key (None: any credential is taken).

    `audiences`: what a client assertion may name as its `aud` (the realm's issuer, the token
    endpoint); `clock` says whether it has expired.
    """

    def __init__(self, audiences: Iterable[str] = (), clock: Callable[[], float] = time.time) -> None:
        self._credentials: dict[str, str | SigningKey | None] = {}
        self._audiences = frozenset(audiences)
        self._clock = clock

    def add(self, client_id: str, secret: str | None = None) -> None:
        """Know `client_id`; with `secret`, only that secret (or an assertion signed with it) passes."""
        if secret is not None or client_id not in self._credentials:
            self._credentials[client_id] = secret

    def add_settings(self, settings: KeycloakSettings) -> None:
        """Know the client these settings authenticate as, with their credential."""
        if not settings.client_id:
            return
        if settings.client_auth_method == "private_key_jwt":
            self._credentials[settings.client_id] = _load_private_key(settings)[0]
        elif settings.client_secret is not None:
            self._credentials[settings.client_id] = settings.client_secret.get_secret_value()

    def _valid_assertion(self, claims: Mapping[str, object], client_id: str) -> bool:
        """RFC 7523 §3, as Keycloak checks it: the client's own (`iss` = `sub` = client id), for
        this realm (`aud`), and not expired."""
        aud, exp = claims.get("aud"), claims.get("exp")
        named = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        return (
            claims.get("sub") == client_id
            and claims.get("iss") == client_id
            and not named.isdisjoint(self._audiences)
            and isinstance(exp, int | float)
            and not isinstance(exp, bool)
            and exp > self._clock()
        )

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._credentials

    def claimed(self, request: httpx.Request, form: Mapping[str, str]) -> str | None:
        """The known client the request says it comes from, before any check of its credential."""
        basic = _basic_pair(request.headers.get("Authorization", ""))
        client_id = basic[0] if basic is not None else form.get("client_id")
        if client_id is None and _assertion(form) is not None:
            client_id = _unverified_subject(_assertion(form) or "")
        return client_id if client_id in self._credentials else None

    def authenticate(self, request: httpx.Request, form: Mapping[str, str]) -> str | None:
        """The client id the request proves, or None (unknown client, wrong or missing credential)."""
        client_id = self.claimed(request, form)
        if client_id is None:
            return None
        credential = self._credentials[client_id]
        if credential is None:
            return client_id
        assertion = _assertion(form)
        if assertion is not None:
            claims = _signed_claims(assertion, credential)
            return client_id if claims is not None and self._valid_assertion(claims, client_id) else None
        basic = _basic_pair(request.headers.get("Authorization", ""))
        secret = basic[1] if basic is not None else form.get("client_secret")
        if (
            isinstance(credential, str)
            and secret is not None
            and hmac.compare_digest(secret.encode(), credential.encode())
        ):
            return client_id
        return None


def _assertion(form: Mapping[str, str]) -> str | None:
    return form.get("client_assertion") if form.get("client_assertion_type") == ASSERTION_TYPE else None


def _basic_pair(header: str) -> tuple[str, str] | None:
    """Client id and secret of `Authorization: Basic`, form-urlencoded as RFC 6749 §2.3.1 asks."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return unquote(user.replace("+", " ")), unquote(password.replace("+", " "))


def _unverified_subject(assertion: str) -> str | None:
    """Who an assertion says it is, to find the client before checking its signature (as Keycloak does)."""
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) else None


def _signed_claims(assertion: str, credential: str | SigningKey) -> Mapping[str, object] | None:
    """The claims of `assertion` if it is signed with the client's secret (HS256) or key; else None."""
    key = OctKey.import_key(credential) if isinstance(credential, str) else credential
    algorithms = ["HS256"] if isinstance(credential, str) else ["RS256", "ES256", "ES384", "ES512"]
    try:
        claims: Mapping[str, object] = jwt.decode(assertion, key, algorithms=algorithms).claims
    except (JoseError, ValueError, TypeError):
        return None
    return claims
