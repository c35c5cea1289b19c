"""Token exchange (RFC 8693): a user's access token traded for one aimed at another service.

Keycloak's standard token exchange (V2, Keycloak 26.2+) is enabled per requesting client. The
exchanged token has `aud` = the requested audience only, `azp` = this service's client, the
user's `sub`, and no refresh token. Exchanged tokens are cached per (digest of the subject
token, audience, scope): the subject token itself is never kept as a key, and one request is
in flight per key however many callers ask at once.

Keycloak 26.5 refuses with codes that mean something else elsewhere (an unknown audience is
`invalid_client`, which for client credentials means a wrong secret): `exchange_refused` words
each case by its description, observed against the real server.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from fastapi_kc._bounded import put_bounded
from fastapi_kc._diagnostics import Diagnosis, token_request_refused
from fastapi_kc._settings import KeycloakSettings, env_name
from fastapi_kc._text import printable
from fastapi_kc._token_endpoint import CachedToken

logger = logging.getLogger("fastapi_kc")

GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN, not a secret
_MAX_ENTRIES: Final = 1024

ExchangeKey = tuple[str, str | None, str | None]


def exchange_form(subject_token: str, audience: str | None, scope: str | None) -> dict[str, str]:
    """The RFC 8693 §2.1 request for an access token exchanged for `subject_token`.

    Raises:
        ValueError: an empty subject token, audience or scope (a caller's mistake, not Keycloak's).
    """
    if not isinstance(subject_token, str) or not subject_token.strip():
        raise ValueError("exchange() needs the caller's access token as subject_token, a non-empty string")
    for name, value in (("audience", audience), ("scope", scope)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"exchange(): {name} must be None or a non-empty string")
    form = {
        "grant_type": GRANT_TYPE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "requested_token_type": ACCESS_TOKEN_TYPE,
    }
    if audience is not None:
        form["audience"] = audience
    if scope is not None:
        form["scope"] = scope
    return form


def exchange_key(subject_token: str, audience: str | None, scope: str | None) -> ExchangeKey:
    """The cache key: a SHA-256 digest stands for the subject token, which is never stored."""
    return hashlib.sha256(subject_token.encode()).hexdigest(), audience, scope


class ExchangeCache:
    """Exchanged tokens by key, each renewed by one shared request shortly before it expires.

    Bounded: beyond `max_entries` keys, expired entries go first, then the oldest.
    """

    def __init__(self, clock: Callable[[], float], max_entries: int = _MAX_ENTRIES) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._tokens: dict[ExchangeKey, CachedToken] = {}
        self._inflight: dict[ExchangeKey, asyncio.Task[CachedToken]] = {}

    def __len__(self) -> int:
        return len(self._tokens)

    async def get(self, key: ExchangeKey, fetch: Callable[[], Awaitable[CachedToken]]) -> str:
        """The token for `key`, from the cache or from `fetch()`, shared by concurrent callers."""
        token = self._tokens.get(key)
        now = self._clock()
        if token is not None and now < token.renew_at:
            return token.value
        task = self._inflight.get(key)
        if task is None:
            task = self._inflight[key] = asyncio.get_running_loop().create_task(self._fetch(key, fetch))
            task.add_done_callback(_log_failure)
        if token is not None and now < token.expires_at:
            return token.value  # still valid: serve it while the renewal runs
        return (await asyncio.shield(task)).value

    async def aclose(self) -> None:
        tasks = list(self._inflight.values())
        self._inflight.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tokens.clear()

    async def _fetch(self, key: ExchangeKey, fetch: Callable[[], Awaitable[CachedToken]]) -> CachedToken:
        try:
            token = await fetch()
            self._store(key, token)
            return token
        finally:
            self._inflight.pop(key, None)

    def _store(self, key: ExchangeKey, token: CachedToken) -> None:
        now = self._clock()
        put_bounded(self._tokens, key, token, limit=self._max_entries, expired=lambda t: t.expires_at <= now)


def _log_failure(task: asyncio.Task[CachedToken]) -> None:
    """Retrieve a failure nobody may await (callers served a still-valid token) and log it."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        logger.warning("token exchange failed: %s", exc)


def exchange_refused(
    settings: KeycloakSettings,
    status: int,
    error: str | None,
    description: str | None,
    *,
    audience: str | None,
    scope: str | None,
) -> Diagnosis:
    """Keycloak refused to exchange a token for `settings.client_id`: what happened and the fix."""
    client, realm = settings.client_id, settings.realm
    lowered = (description or "").lower()
    found = f"POST {settings.token_url} (token exchange) answered HTTP {status}"
    found += f" {printable(error, 80)}" if error else ""
    found += f" ({printable(description, 200)})" if description else ""
    target = printable(audience, 80, quoted=True) if audience is not None else "(none)"
    if "not enabled" in lowered:
        problem = f"token exchange is not enabled for client {client!r}"
        fix = (
            f"Keycloak: Clients > {client} > Settings > Capability config > Standard Token Exchange: On (client "
            "attribute standard.token.exchange.enabled=true)"
        )
    elif error == "access_denied":
        problem = f"the subject token was not issued for client {client!r}: its aud lacks {client!r}"
        fix = (
            f"add an audience mapper for {client!r} to the client users log in through (Clients > <login client> > "
            f"Client scopes > <login client>-dedicated > Add mapper > Audience, Included Client Audience {client!r})"
        )
    elif "audience not found" in lowered:
        # invalid_client here names the requested audience, not this client or its credentials.
        problem = f"the requested audience {target} is not a client of realm {realm!r}"
        fix = f"pass as audience the client id of the target service in realm {realm!r} (client ids are case-sensitive)"
    elif "audience not available" in lowered:
        problem = f"client {client!r} may not request tokens for audience {target}"
        fix = (
            f"make {target} available to {client!r}: an audience mapper on Clients > {client} > Client scopes > "
            f"{client}-dedicated (Included Client Audience {target}), or an optional client scope carrying one, "
            "requested with scope="
        )
    elif error == "invalid_scope":
        requested = printable(scope, 120, quoted=True) if scope is not None else "(none)"
        problem = f"Keycloak refuses scope {requested} for client {client!r}"
        fix = f"request only client scopes assigned to {client!r} (Clients > {client} > Client scopes), by name"
    elif error == "invalid_request" and "invalid token" in lowered:
        problem = "Keycloak does not accept the subject token: expired, altered, or not an access token of this realm"
        fix = "pass the caller's access token exactly as received, while it is valid"
    elif error in ("invalid_client", "unauthorized_client") or status == 429:
        return token_request_refused(settings, status, error, description)
    else:
        problem = f"Keycloak refused to exchange a token for client {client!r} (audience {target})"
        fix = f"check Keycloak's logs for the exchange (event TOKEN_EXCHANGE_ERROR) and {env_name('client_id')}"
    return Diagnosis(problem=problem, evidence=found, fix=fix)
