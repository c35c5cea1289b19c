"""The OpenID Connect client on Authlib: which Keycloak URL each step uses, and its errors.

The browser is sent to the authorization and end-session endpoints on the PUBLIC URL (the one it
can reach, and the one the tokens' `iss` names); the code is redeemed and tokens refreshed on the
INTERNAL URL, and the ID token's keys come from there too (field notes §1). Nothing is read from
a discovery document, whose endpoints would name whichever host answered.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App

from fastapi_kc import KeycloakSettings
from fastapi_kc.login._store import SessionStore, StateCache

#: Everything Authlib and httpx2 raise when Keycloak cannot be reached or answers 5xx.
UNREACHABLE = (httpx2.HTTPError, httpx2.InvalidURL)


def end_session_url(settings: KeycloakSettings) -> str:
    """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), where the browser goes."""
    return f"{settings.issuer}/protocol/openid-connect/logout"


class KeycloakClient:
    """Authlib's Starlette client for one confidential (or public) Keycloak client."""

    def __init__(
        self,
        settings: KeycloakSettings,
        store: SessionStore,
        *,
        client_id: str,
        client_secret: str | None,
        scope: str,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self._secret = client_secret
        self._http: dict[str, Any] = {"timeout": settings.http_timeout_seconds, "follow_redirects": False}
        if settings.ca_bundle is not None:
            self._http["verify"] = ssl.create_default_context(cafile=str(settings.ca_bundle))
        if transport is not None:
            self._http["transport"] = transport
        self._auth_method = "client_secret_basic" if client_secret else "none"
        oauth = OAuth(cache=StateCache(store))
        app = oauth.register(
            "keycloak",
            client_id=client_id,
            client_secret=client_secret,
            authorize_url=settings.authorization_url,  # public
            access_token_url=settings.token_url,  # internal
            client_kwargs={
                "scope": scope,
                "code_challenge_method": "S256",  # PKCE (RFC 7636), also for a confidential client
                "token_endpoint_auth_method": self._auth_method,
                **self._http,
            },
            # Server metadata given, not discovered: the ID token's issuer and keys.
            issuer=settings.issuer,
            jwks_uri=settings.jwks_url,  # internal
            end_session_endpoint=end_session_url(settings),  # public
            id_token_signing_alg_values_supported=list(settings.algorithms),
        )
        assert isinstance(app, StarletteOAuth2App)
        self.app = app

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """A refresh-token grant on the internal token endpoint.

        Raises:
            authlib's OAuthError: Keycloak refused (`invalid_grant`: session ended or token expired).
            UNREACHABLE: Keycloak could not be reached or failed.
        """
        # A client per call: Authlib's client keeps the last token as state, which concurrent
        # refreshes of different sessions must not share.
        async with AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._secret,
            token_endpoint_auth_method=self._auth_method,
            **self._http,
        ) as client:
            token: dict[str, Any] = dict(
                await client.refresh_token(self.settings.token_url, refresh_token=refresh_token)
            )
        return token
