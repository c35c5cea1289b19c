"""`MockKeycloak`: an in-memory Keycloak behind one `KeycloakAuth`, for the length of a block.

Nothing is bypassed. The auth starts as in production (discovery, issuer check, key set) and
verifies every token with the same code; only the HTTP transport under it is swapped, through
`KeycloakAuth.use_http_client`, for an `httpx.MockTransport` that answers from memory. No
socket, no port, no global state: another auth in the same process still talks to its own
Keycloak, and when the block ends this one does again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import httpx

from fastapi_kc import KeycloakAuth, ServiceTokenClient
from fastapi_kc.testing._clients import ClientRegistry
from fastapi_kc.testing._endpoint import TokenEndpoint
from fastapi_kc.testing._introspection import IntrospectionEndpoint
from fastapi_kc.testing._tokens import LIFETIME, Audience, Realm, SigningKey
from fastapi_kc.testing._tokens import service_claims as build_service_claims
from fastapi_kc.testing._tokens import user_claims as build_user_claims


class MockKeycloak:
    """An in-memory Keycloak for `auth` (and any `token_clients`) while the block lasts.

    `with MockKeycloak(auth) as keycloak:` or `async with`; enter it before the app starts
    (before `TestClient(app)`), and leave it after the app has stopped. The realm has one fresh
    key, so tokens of another mock are refused. `clock` dates the tokens (default `time.time`:
    pass the auth's clock if it has one).

    Raises:
        ValueError: a token client belongs to another realm than `auth`.
        RuntimeError: on entry, `auth` or a token client is already started.
    """

    def __init__(
        self,
        auth: KeycloakAuth,
        *token_clients: ServiceTokenClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        settings = auth.settings
        for client in token_clients:
            if client.settings.issuer != settings.issuer:
                raise ValueError(
                    f"MockKeycloak is one realm ({settings.issuer}); a ServiceTokenClient of "
                    f"{client.settings.issuer} cannot be attached to it"
                )
        self._auth = auth
        self._token_clients = token_clients
        self._clock = clock
        self._realm = Realm(settings.realm, settings.issuer, tuple(settings.audience))
        self._key = SigningKey(settings.algorithms)
        every = (settings, *(c.settings for c in token_clients))
        self._clients = ClientRegistry({settings.issuer, *(s.token_url for s in every)}, clock)
        for client_settings in every:
            self._clients.add_settings(client_settings)
        self._token_endpoint = TokenEndpoint(self._realm, self._key, clock, self.service_token, self._clients)
        self._token_endpoint.service_accounts.update((str(c.settings.client_id), {}) for c in token_clients)
        self._introspection = IntrospectionEndpoint(self._key, clock, self._clients)
        self._routes: dict[tuple[str, httpx.URL], Callable[[httpx.Request], httpx.Response]] = {
            ("GET", httpx.URL(settings.discovery_url)): self._discovery,
            ("GET", httpx.URL(settings.jwks_url)): self._jwks,
            **{("POST", httpx.URL(s.token_url)): self._token_endpoint for s in every},
            **{("POST", httpx.URL(s.introspection_url)): self._introspection for s in every},
        }
        self._stack: ExitStack | None = None
        self.transport = httpx.MockTransport(self._answer)
        """An httpx transport answering as this Keycloak, for code of the app's own that calls it."""

    def __repr__(self) -> str:
        return f"MockKeycloak(issuer={self._realm.issuer!r}, kid={self._key.kid!r}, alg={self._key.alg!r})"

    # --- the block -----------------------------------------------------------------------------

    def __enter__(self) -> MockKeycloak:
        if self._stack is not None:
            raise RuntimeError("this MockKeycloak is already in use; create one per block")
        client = httpx.AsyncClient(transport=self.transport, trust_env=False)
        with ExitStack() as stack:
            stack.enter_context(self._auth.use_http_client(client))
            for token_client in self._token_clients:
                stack.enter_context(token_client.use_http_client(client))
            self._stack = stack.pop_all()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> MockKeycloak:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # --- tokens --------------------------------------------------------------------------------

    def token(
        self,
        *,
        username: str = "test-user",
        subject: str | None = None,
        email: str | None = None,
        realm_roles: Iterable[str] = (),
        client_roles: Mapping[str, Iterable[str]] | None = None,
        scopes: Iterable[str] = (),
        audience: Audience | None = None,
        expires_in: float = LIFETIME,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A user's access token, signed by this realm's key.

        Realm roles come with Keycloak's defaults (`default-roles-<realm>`, `offline_access`,
        `uma_authorization`), scopes with `openid profile email`; `audience` defaults to the
        auth's own; a negative `expires_in` gives an expired token (refused once further in the past
        than `KEYCLOAK_LEEWAY_SECONDS`, as in production); `claims` are added last, and
        a None value removes a claim. `subject` defaults to an id derived from the username.
        """
        return self._key.sign(
            build_user_claims(
                self._realm,
                now=self._clock(),
                username=username,
                subject=subject,
                email=email,
                realm_roles=realm_roles,
                client_roles=client_roles or {},
                scopes=scopes,
                audience=audience,
                expires_in=expires_in,
                claims=claims,
            )
        )

    def service_token(
        self,
        client_id: str,
        *,
        subject: str | None = None,
        realm_roles: Iterable[str] = (),
        client_roles: Mapping[str, Iterable[str]] | None = None,
        scopes: Iterable[str] = (),
        audience: Audience | None = None,
        expires_in: float = LIFETIME,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A client-credentials token of `client_id` (its service account); keywords as for `token`."""
        return self._key.sign(
            build_service_claims(
                self._realm,
                client_id,
                now=self._clock(),
                subject=subject,
                realm_roles=realm_roles,
                client_roles=client_roles or {},
                scopes=scopes,
                audience=audience,
                expires_in=expires_in,
                claims=claims,
            )
        )

    def service_account(self, client_id: str, *, client_secret: str | None = None, **options: Any) -> None:
        """What the token endpoint issues to `client_id` from now on: the keywords of `service_token`.

        The clients of attached `ServiceTokenClient`s get tokens with the defaults; this sets
        their roles, audience..., or lets another client id ask through `transport`. The
        clients of the settings given to the mock must present their secret (or key); another
        client must present `client_secret` when one is given here, and may present any without.
        """
        self._clients.add(client_id, client_secret)
        self._token_endpoint.service_accounts[client_id] = options

    def end_session(self, token: str) -> None:
        """End `token`'s session at this Keycloak, as an administrator's logout does.

        Introspection answers `{"active": false}` from now on for every token of that session
        (of that subject, for a token without a session, such as a service account's), so
        `auth.require_active()` and `introspect_every_request` refuse them; local verification,
        as in production, does not know. A string this realm did not sign changes nothing.
        """
        claims = self._key.verified_claims(token)
        if claims is None:
            return
        ended = claims.get("sid") or claims.get("sub")
        if isinstance(ended, str):
            self._introspection.ended.add(ended)

    # --- the in-memory endpoints ---------------------------------------------------------------

    def _answer(self, request: httpx.Request) -> httpx.Response:
        route = self._routes.get((request.method, request.url.copy_with(query=None, fragment=None)))
        if route is not None:
            return route(request)
        if request.url.host not in {url.host for _, url in self._routes}:
            # As if the name did not resolve: nothing leaves the process, even by mistake.
            message = f"MockKeycloak answers only for the Keycloak of {self._realm.issuer}"
            raise httpx.ConnectError(message, request=request)
        return httpx.Response(404, json={"error": "Not Found"})

    def _discovery(self, request: httpx.Request) -> httpx.Response:
        base = f"{self._realm.issuer}/protocol/openid-connect"
        return httpx.Response(
            200,
            json={
                "issuer": self._realm.issuer,
                "authorization_endpoint": f"{base}/auth",
                "token_endpoint": f"{base}/token",
                "introspection_endpoint": f"{base}/token/introspect",
                "userinfo_endpoint": f"{base}/userinfo",
                "end_session_endpoint": f"{base}/logout",
                "jwks_uri": f"{base}/certs",
                "grant_types_supported": [
                    "authorization_code",
                    "refresh_token",
                    "client_credentials",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ],
                "id_token_signing_alg_values_supported": [self._key.alg],
                "backchannel_logout_supported": True,
            },
        )

    def _jwks(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"keys": [self._key.jwk()]})
