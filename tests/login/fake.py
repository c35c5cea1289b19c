"""Keycloak's browser-facing side, faked for the login tests: the authorization endpoint's answer
(a code, by the test), the token endpoint (code with PKCE, refresh) and the key set.

Authlib talks httpx2, so this fake is an `httpx2.MockTransport`. It answers only on the internal
URL, like the core's fake: a token request sent to the public URL fails to connect.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx2

from tests.support.fake_keycloak import CERTS_PATH, TOKEN_PATH
from tests.support.tokens import INTERNAL_URL, ISSUER, SigningKey, mint, user_claims

CLIENT_ID = "shop-bff"
CLIENT_SECRET = "bff-secret-for-tests"


@dataclass
class Grant:
    """What the authorization endpoint remembered with a code."""

    challenge: str
    nonce: str
    redirect_uri: str
    username: str


@dataclass
class LoginKeycloak:
    key: SigningKey
    grants: dict[str, Grant] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    hits: Counter[str] = field(default_factory=Counter)
    requests: list[httpx2.Request] = field(default_factory=list)
    down: bool = False
    id_token_nonce: str | None = None  # set: the ID token carries this nonce instead of the right one
    access_lifetime: int = 300
    issued: int = 0

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self._handle)

    def authorize(self, query: dict[str, str], username: str = "mario") -> str:
        """Keycloak's login page after the user signed in: remember the request, return a code."""
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(query["code_challenge"], query["nonce"], query["redirect_uri"], username)
        return code

    def access_token(self, username: str) -> str:
        self.issued += 1
        return mint(user_claims(preferred_username=username, jti=f"access-{self.issued}"), self.key)

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if f"{request.url.scheme}://{request.url.netloc.decode()}" != INTERNAL_URL or self.down:
            raise httpx2.ConnectError("Connection refused", request=request)
        self.hits[request.url.path] += 1
        if request.url.path == CERTS_PATH:
            return httpx2.Response(200, json={"keys": [self.key.jwk()]})
        if request.url.path != TOKEN_PATH:
            return httpx2.Response(404, json={"error": "not found"})
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        user, _, secret = (
            base64.b64decode(request.headers.get("Authorization", "Basic Og==")[6:]).decode().partition(":")
        )
        if (user, secret) != (CLIENT_ID, CLIENT_SECRET):
            return httpx2.Response(401, json={"error": "unauthorized_client"})
        if form.get("grant_type") == "authorization_code":
            return self._code(form)
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return httpx2.Response(400, json={"error": "invalid_grant", "error_description": "Session not active"})
            self.refresh_tokens.discard(form["refresh_token"])
            return self._tokens("mario", nonce=None)
        return httpx2.Response(400, json={"error": "unsupported_grant_type"})

    def _code(self, form: dict[str, str]) -> httpx2.Response:
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant.redirect_uri:
            return httpx2.Response(400, json={"error": "invalid_grant", "error_description": "Code not valid"})
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return httpx2.Response(
                400, json={"error": "invalid_grant", "error_description": "PKCE verification failed"}
            )
        return self._tokens(grant.username, nonce=self.id_token_nonce or grant.nonce)

    def _tokens(self, username: str, nonce: str | None) -> httpx2.Response:
        now = int(time.time())
        refresh = secrets.token_urlsafe(16)
        self.refresh_tokens.add(refresh)
        id_claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "0b5c6e1a-user-mario", "iat": now, "exp": now + 300,
                     "azp": CLIENT_ID, "preferred_username": username, "name": "Mario Rossi", "typ": "ID"}  # fmt: skip
        if nonce is not None:
            id_claims["nonce"] = nonce
        body: dict[str, Any] = {
            "access_token": self.access_token(username),
            "expires_in": self.access_lifetime,
            "refresh_token": refresh,
            "refresh_expires_in": 1800,
            "token_type": "Bearer",
            "id_token": mint(id_claims, self.key),
            "scope": "openid profile email",
        }
        return httpx2.Response(200, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
