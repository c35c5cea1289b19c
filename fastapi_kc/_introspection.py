"""Token introspection (RFC 7662): asking Keycloak whether a token is still active.

Local verification cannot see what Keycloak sends no logout token for: a disabled user, the
realm's "logout all", a session that expired on the server (field notes, "Keycloak 26.5,
observed"). Introspection can, at the price of a call to Keycloak per token: answers are
cached briefly (`introspection_cache_seconds`), keyed by a SHA-256 digest of the token (the
token itself is never kept as a key), and any failure to get an answer is a 503: fail
closed, never "active by default".

The call is made as this service's confidential client on the internal URL, authenticated as
every client call of this library is (`_client_auth`: client secret, or a signed JWT).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any, Final

import httpx

from fastapi_kc._bounded import put_bounded
from fastapi_kc._client_auth import ClientAuthenticator
from fastapi_kc._errors import ConfigurationError, InvalidTokenError, UnavailableError
from fastapi_kc._http import UnsupportedEncodingError, json_object, post_form
from fastapi_kc._metrics import NO_METRICS, MetricsSink
from fastapi_kc._settings import KeycloakSettings

logger = logging.getLogger("fastapi_kc")

_MAX_ENTRIES: Final = 10_000
# Members of an introspection answer that describe the answer, not the token (RFC 7662 §2.2).
_RESPONSE_ONLY: Final = frozenset({"active", "token_type", "username", "client_id"})


class Introspector:
    """Asks Keycloak's introspection endpoint about tokens; remembers answers briefly."""

    def __init__(
        self,
        settings: KeycloakSettings,
        client: Callable[[], httpx.AsyncClient | None],
        clock: Callable[[], float],
        metrics: MetricsSink = NO_METRICS,
    ) -> None:
        self._metrics = metrics
        try:
            self._client_auth = ClientAuthenticator(settings, clock=clock)
        except ConfigurationError as exc:
            raise ConfigurationError(f"token introspection: {exc}") from None
        self._settings = settings
        self._url = settings.introspection_url
        self._client = client
        self._clock = clock
        self._ttl = settings.introspection_cache_seconds
        self._answers: dict[bytes, tuple[float, dict[str, Any] | None]] = {}

    async def claims(self, token: str) -> dict[str, Any]:
        """The token's claims as Keycloak reports them, without the answer-only members.

        Raises:
            InvalidTokenError: 401, Keycloak says the token is not active.
            UnavailableError: 503, Keycloak did not give a usable answer.
        """
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        cached = self._answers.get(digest)
        if cached is not None and now < cached[0]:
            answer = cached[1]
        else:
            answer = await self._ask(token)
            if self._ttl > 0:
                entry = (now + self._ttl, answer)
                put_bounded(self._answers, digest, entry, limit=_MAX_ENTRIES, expired=lambda a: a[0] <= now)
        if answer is None:
            raise InvalidTokenError("token is not active", reason="inactive")
        return answer

    async def _ask(self, token: str) -> dict[str, Any] | None:
        client = self._client()
        if client is None:
            raise UnavailableError("token introspection is not started", reason="introspection_unavailable")
        form = {"token": token, "token_type_hint": "access_token"}
        try:
            response, raw = await post_form(client, self._settings, self._url, form, self._client_auth.credentials())
        except (TimeoutError, httpx.HTTPError, UnsupportedEncodingError) as exc:
            self._metrics.introspection_request("error")
            logger.warning(
                "token introspection at %s failed: %s",
                self._url,
                type(exc).__name__,
                extra={"event": "introspection", "result": "error", "url": self._url, "status": None},
            )
            raise UnavailableError(
                "token cannot be checked with Keycloak now", reason="introspection_unavailable"
            ) from None
        status = response.status_code
        body = json_object(raw) if raw is not None else None
        if status != 200 or body is None or not isinstance(body.get("active"), bool):
            # 401 here means this service's own client id or secret is wrong: an operator's problem.
            self._metrics.introspection_request("error")
            logger.warning(
                "token introspection at %s answered HTTP %d without a usable answer",
                self._url,
                status,
                extra={"event": "introspection", "result": "error", "url": self._url, "status": status},
            )
            raise UnavailableError("token cannot be checked with Keycloak now", reason="introspection_unavailable")
        active = body["active"] is True
        self._metrics.introspection_request("active" if active else "inactive")
        if not active:
            return None
        return {name: value for name, value in body.items() if name not in _RESPONSE_ONLY}
