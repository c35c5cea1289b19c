"""Revocations shared through Redis: a logout received by one replica reaches all within a second.

Two Redis structures, per realm (the issuer names them):
- a sorted set `fastapi_kc:{issuer}:revocations`: each revocation (canonical JSON) scored by
  when it may be forgotten; read whole at start-up and after every reconnect, trimmed on write;
- a channel `fastapi_kc:{issuer}:revocations:events`: each new revocation is published there,
  and every replica's listener applies it to its local `RevocationList` as it arrives.
The listener subscribes before it reads the set, so nothing published in between is missed.

Requests never wait for Redis. While Redis is unreachable, a replica keeps refusing what it
knows, logs a warning, reports `state == "reconnecting"`, and retries with backoff; logouts it
receives are applied locally and written once Redis is back. With
`revocation_max_stale_seconds` > 0 it refuses every request (503) once Redis has been
unreachable that long (`state == "stale"`), for services that prefer refusing to possibly
honouring an ended session. Unreachable at start-up: `ConfigurationError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
from collections.abc import Callable
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from fastapi_kc._errors import ConfigurationError, UnavailableError
from fastapi_kc._revocations import Revocation, RevocationList
from fastapi_kc._settings import KeycloakSettings, env_name, redact_url
from fastapi_kc.revocation._store import RevocationStore, StoreUnavailableError

logger = logging.getLogger("fastapi_kc")

_POLL: Final = 1.0  # seconds a listener waits for a message before its housekeeping
_PRUNE_INTERVAL: Final = 60.0
_MAX_BACKOFF: Final = 2.0
_FAILURES: Final = (RedisError, OSError, asyncio.TimeoutError)


class RedisRevocationStore(RevocationStore):
    """Revocations in Redis, fed into the local view of every replica by pub/sub."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str,
        clock: Callable[[], float],
        max_stale_seconds: float = 0.0,
        timeout_seconds: float = 2.0,
    ) -> None:
        self._url = url
        self._key = f"{namespace}:revocations"
        self._channel = f"{namespace}:revocations:events"
        self._jti_prefix = f"{namespace}:logout-jti:"
        self._clock = clock
        self._max_stale = max_stale_seconds
        self._timeout = timeout_seconds
        self._client: aioredis.Redis | None = None
        self._revocations: RevocationList | None = None
        self._listener: asyncio.Task[None] | None = None
        self._pending: list[Revocation] = []
        self._seen: dict[str, float] = {}  # jti -> until, while Redis cannot be asked
        self._stale_timer: asyncio.TimerHandle | None = None
        self._pruned_at = float("-inf")

    @classmethod
    def from_settings(cls, settings: KeycloakSettings, *, clock: Callable[[], float]) -> RedisRevocationStore:
        """The store `KEYCLOAK_REVOCATION_STORE` names, its keys namespaced by the realm's issuer so
        that services of several realms can share one Redis."""
        return cls(
            settings.revocation_store,
            namespace=f"fastapi_kc:{settings.issuer}",
            clock=clock,
            max_stale_seconds=settings.revocation_max_stale_seconds,
            timeout_seconds=settings.http_timeout_seconds,
        )

    def __repr__(self) -> str:
        return f"RedisRevocationStore(url={redact_url(self._url)!r}, state={self.state!r})"

    # --- life cycle ----------------------------------------------------------------------------

    async def start(self, revocations: RevocationList) -> None:
        self._revocations = revocations
        self._client = aioredis.Redis.from_url(
            self._url,
            socket_connect_timeout=self._timeout,
            socket_timeout=self._timeout,
            health_check_interval=5,
        )
        try:
            pubsub = await self._subscribe_and_load()
        except _FAILURES as exc:
            await self._client.aclose()
            self._client = None
            raise ConfigurationError(
                f"the revocation store {redact_url(self._url)} cannot be reached ({type(exc).__name__}: "
                f"{_reason(exc)}); check {env_name('revocation_store')} and that Redis is running"
            ) from None
        self.state = "connected"
        self._listener = asyncio.get_running_loop().create_task(self._listen(pubsub))
        self._listener.add_done_callback(self._listener_done)
        logger.info("revocation store connected: %s, %d revocation(s) known", redact_url(self._url), len(revocations))

    async def close(self) -> None:
        task, self._listener = self._listener, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._stale_timer is not None:
            self._stale_timer.cancel()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        self.state = "closed"

    # --- writes (the back-channel logout route) -------------------------------------------------

    async def revoke(self, revocation: Revocation) -> None:
        if self._revocations is None or self._client is None:
            raise StoreUnavailableError("the revocation store is not started")
        self._revocations.apply(revocation)  # this replica refuses at once, whatever Redis does
        try:
            await self._write(self._client, revocation)
        except _FAILURES as exc:
            self._pending.append(revocation)
            raise StoreUnavailableError(f"Redis {redact_url(self._url)}: {type(exc).__name__}") from None

    async def first_use(self, jti: str, until: float) -> bool:
        now = self._clock()
        self._seen = {j: u for j, u in self._seen.items() if u > now}
        if jti in self._seen:
            return False
        self._seen[jti] = until
        if self._client is None:
            return True
        key = self._jti_prefix + hashlib.sha256(jti.encode()).hexdigest()
        try:
            # One replica honours a given logout token: a replay sent to another one is refused too.
            return bool(await self._client.set(key, b"1", nx=True, px=max(1, math.ceil((until - now) * 1000))))
        except _FAILURES:
            return True  # known locally only; the revocation it carries is idempotent anyway

    async def _write(self, client: aioredis.Redis, revocation: Revocation) -> None:
        member = revocation.to_json()
        now = self._clock()
        async with client.pipeline(transaction=True) as pipe:
            pipe.zadd(self._key, {member: revocation.until})
            pipe.zremrangebyscore(self._key, "-inf", now)
            pipe.expire(self._key, max(1, math.ceil(revocation.until - now)))
            pipe.publish(self._channel, member)
            await pipe.execute()

    # --- the listener ---------------------------------------------------------------------------

    async def _subscribe_and_load(self) -> Any:
        if self._client is None or self._revocations is None:
            raise StoreUnavailableError("not started")
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            # Subscribed first, read second: a revocation published meanwhile arrives both ways.
            members = await self._client.zrangebyscore(self._key, self._clock(), "+inf")
        except BaseException:
            await pubsub.aclose()
            raise
        for member in members:
            self._apply(member)
        return pubsub

    async def _listen(self, pubsub: Any) -> None:
        while True:
            try:
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_POLL)
                    if message is not None and message.get("type") == "message":
                        self._apply(message["data"])
                    self._housekeeping()
            except _FAILURES as exc:
                await _close_quietly(pubsub)
                pubsub = await self._reconnect(exc)

    def _listener_done(self, task: asyncio.Task[None]) -> None:
        # The listener only ends when closed; anything else is a bug that must not pass silently:
        # this replica would stop learning of logouts while reporting itself connected.
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.state = "reconnecting"
            logger.error("revocation store listener stopped: %s: %s", type(exc).__name__, exc)

    async def _reconnect(self, exc: BaseException) -> Any:
        self.state = "reconnecting"
        logger.warning(
            "revocation store %s unreachable (%s): known revocations keep applying; reconnecting",
            redact_url(self._url),
            type(exc).__name__,
        )
        if self._max_stale > 0 and self._stale_timer is None:
            self._stale_timer = asyncio.get_running_loop().call_later(self._max_stale, self._go_stale)
        delay = 0.1
        while True:
            await asyncio.sleep(delay)
            try:
                pubsub = await self._subscribe_and_load()
                await self._flush_pending()
            except _FAILURES:
                delay = min(delay * 2, _MAX_BACKOFF)
                continue
            if self._stale_timer is not None:
                self._stale_timer.cancel()
                self._stale_timer = None
            if self._revocations is not None:
                self._revocations.refusal = None
            self.state = "connected"
            logger.warning("revocation store %s reachable again", redact_url(self._url))
            return pubsub

    async def _flush_pending(self) -> None:
        while self._pending and self._client is not None:
            await self._write(self._client, self._pending[0])
            self._pending.pop(0)

    def _go_stale(self) -> None:
        self._stale_timer = None
        self.state = "stale"
        logger.error(
            "revocation store %s unreachable for more than %s s: refusing requests until it is back (%s)",
            redact_url(self._url),
            self._max_stale,
            env_name("revocation_max_stale_seconds"),
        )
        if self._revocations is not None:
            self._revocations.refusal = UnavailableError("revocation state is not current", reason="revocations_stale")

    def _apply(self, member: Any) -> None:
        if self._revocations is None:
            return
        try:
            self._revocations.apply(Revocation.from_json(member))
        except (ValueError, TypeError):
            logger.warning("revocation store %s holds an entry that is not a revocation", redact_url(self._url))

    def _housekeeping(self) -> None:
        now = self._clock()
        if now - self._pruned_at >= _PRUNE_INTERVAL and self._revocations is not None:
            self._pruned_at = now
            self._revocations.prune()


def _reason(exc: BaseException) -> str:
    # Redis errors can quote the URL; never the password.
    return str(exc).split("@")[-1][:200] if str(exc) else "no answer"


async def _close_quietly(pubsub: Any) -> None:
    with contextlib.suppress(*_FAILURES):
        await pubsub.aclose()
