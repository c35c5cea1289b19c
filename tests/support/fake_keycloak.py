"""A fake Keycloak behind `httpx.MockTransport`: no sockets, every request recorded.

It answers only for the internal origin (`INTERNAL_URL`); any other host gets a connection
error, exactly like a public hostname a container cannot reach. Tests change its state
(keys, outage, delays, odd responses) while a `KeycloakAuth` or `ServiceTokenClient` runs.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
from joserfc import jwt
from joserfc.errors import JoseError

from tests.support.tokens import AUDIENCE, INTERNAL_URL, ISSUER, PUBLIC_URL, REALM, SigningKey

REALM_PATH = f"/realms/{REALM}"
DISCOVERY_PATH = f"{REALM_PATH}/.well-known/openid-configuration"
CERTS_PATH = f"{REALM_PATH}/protocol/openid-connect/certs"
TOKEN_PATH = f"{REALM_PATH}/protocol/openid-connect/token"
CLIENT_ID = "shop-api"
CLIENT_SECRET = "s3cret-for-tests"
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"


def settings_values(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for `KeycloakSettings` pointing at this fake; `overrides` replace entries."""
    values: dict[str, Any] = {
        "public_url": PUBLIC_URL,
        "internal_url": INTERNAL_URL,
        "realm": REALM,
        "audience": AUDIENCE,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    values.update(overrides)
    return values


Override = Callable[[httpx.Request], Awaitable[httpx.Response | None] | httpx.Response | None]


@dataclass
class FakeKeycloak:
    """State behind the fake; `transport()` gives the `httpx.MockTransport` that serves it."""

    keys: list[SigningKey]
    down: bool = False
    discovery_issuer: str = ISSUER
    jwks_extra: list[dict[str, Any]] = field(default_factory=list)
    certs_delay: float = 0.0
    token_delay: float = 0.0
    token_lifetime: int = 300
    token_failures: list[httpx.Response] = field(default_factory=list)
    override: Override | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)
    issued: int = 0
    #: client id -> joserfc key that checks its client assertions (private_key_jwt, client_secret_jwt)
    assertion_keys: dict[str, Any] = field(default_factory=dict)
    assertions: list[dict[str, Any]] = field(default_factory=list)
    exchanges: list[dict[str, str]] = field(default_factory=list)  # forms of granted token exchanges

    @property
    def certs_hits(self) -> int:
        return self.hits[CERTS_PATH]

    @property
    def token_hits(self) -> int:
        return self.hits[TOKEN_PATH]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.keys] + self.jwks_extra}

    def discovery(self) -> dict[str, Any]:
        base = f"{PUBLIC_URL}{REALM_PATH}/protocol/openid-connect"
        return {
            "issuer": self.discovery_issuer,
            "authorization_endpoint": f"{base}/auth",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/certs",
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        }

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport())

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if f"{request.url.scheme}://{request.url.netloc.decode()}" != INTERNAL_URL:
            # What httpx raises for a name that does not resolve: a ConnectError caused by gaierror.
            cause = socket.gaierror(-2, "Name or service not known")
            raise httpx.ConnectError(str(cause), request=request) from cause
        self.hits[request.url.path] += 1
        if self.override is not None:
            response = self.override(request)
            if inspect.isawaitable(response):
                response = await response
            if response is not None:
                return response
        if self.down:
            refused = ConnectionRefusedError(111, "Connection refused")
            raise httpx.ConnectError(str(refused), request=request) from refused
        path = request.url.path
        if request.method == "GET" and path == DISCOVERY_PATH:
            return httpx.Response(200, json=self.discovery())
        if request.method == "GET" and path == CERTS_PATH:
            if self.certs_delay:
                await asyncio.sleep(self.certs_delay)
            return httpx.Response(200, json=self.jwks())
        if request.method == "POST" and path == TOKEN_PATH:
            return await self._token(request)
        return httpx.Response(404, json={"error": "Realm does not exist"})

    async def _token(self, request: httpx.Request) -> httpx.Response:
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if self.token_failures:
            return self.token_failures.pop(0)
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            form.setdefault("client_id", user)
            form.setdefault("client_secret", secret)
        grant = form.get("grant_type")
        if grant not in ("client_credentials", EXCHANGE_GRANT):
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        if "client_assertion" in form:
            if (refusal := self._check_assertion(form)) is not None:
                return refusal
        elif form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            refusal = {
                "error": "unauthorized_client",
                "error_description": "Invalid client or Invalid client credentials",
            }
            return httpx.Response(401, json=refusal)
        self.issued += 1
        if grant == EXCHANGE_GRANT:
            self.exchanges.append(form)
        body = {
            "access_token": f"{'exchanged' if grant == EXCHANGE_GRANT else 'service'}-token-{self.issued}",
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "scope": "profile email",
        }
        return httpx.Response(200, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    def _check_assertion(self, form: dict[str, str]) -> httpx.Response | None:
        """Keycloak's checks of an RFC 7523 client assertion; None when it authenticates the client."""
        client_id = form.get("client_id", "")
        key = self.assertion_keys.get(client_id)
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" or not key:
            refusal = {"error": "invalid_client", "error_description": "Unable to load public key"}
            return httpx.Response(400, json=refusal)
        try:
            token = jwt.decode(form["client_assertion"], key)
        except (JoseError, ValueError):
            refusal = {"error": "invalid_client", "error_description": "Signature on JWT token failed validation"}
            return httpx.Response(400, json=refusal)
        claims = dict(token.claims)
        self.assertions.append({"header": dict(token.header), **claims})
        if claims.get("aud") != ISSUER:
            return httpx.Response(400, json={"error": "invalid_client", "error_description": "Invalid token audience"})
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            return httpx.Response(400, json={"error": "invalid_client", "error_description": "Invalid issuer"})
        if [a.get("jti") for a in self.assertions].count(claims.get("jti")) > 1:
            return httpx.Response(400, json={"error": "invalid_client", "error_description": "Token reuse detected"})
        return None
