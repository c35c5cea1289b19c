"""The realm's key set, cached: fetched once, shared, refreshed, never stormed.

- One fetch in flight at a time; every caller that needs it awaits the same task (field notes §5).
- An unknown `kid` triggers a refetch at most once per cooldown; otherwise it fails at once.
- After `max_age` the set is refreshed in the background while the old set keeps serving.
- While Keycloak is down, known keys keep working for `max_stale` after the last good fetch.
- Each fetch replaces the whole set, so a key removed in Keycloak stops being trusted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from fastapi_kc._errors import InvalidTokenError, KeysUnavailableError
from fastapi_kc._http import FetchError
from fastapi_kc._keys import KeySet, VerificationKey
from fastapi_kc._metrics import NO_METRICS, MetricsSink
from fastapi_kc._text import printable

logger = logging.getLogger("fastapi_kc")

FetchKeys = Callable[[KeySet | None], Awaitable[KeySet]]


class KeySetCache:
    """Keys by `kid`, with the fetch policy above. `fetch` does the I/O; the clock is injected."""

    def __init__(
        self,
        fetch: FetchKeys,
        *,
        clock: Callable[[], float],
        cooldown: float,
        max_age: float,
        max_stale: float,
        url: str = "",
        metrics: MetricsSink = NO_METRICS,
    ) -> None:
        self._fetch = fetch
        self._url = url
        self._metrics = metrics
        self._clock = clock
        self._cooldown = cooldown
        self._max_age = max_age
        self._max_stale = max_stale
        self._young = min(max_age, max_stale)  # until then, `lookup` neither refreshes nor refuses
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self.fresh_until = float("-inf")
        """Until when the current set is young: before then every key of `current` is trusted as it is
        (no refresh is due, the set is not stale), so the request path reads `current` directly
        instead of calling `lookup`, and its cache of verified tokens only needs to hear of keys
        that leave the set (`on_replaced`)."""
        self.current: Mapping[str, VerificationKey] = {}
        """The keys of the last set fetched, by `kid` (see `fresh_until`; `lookup` for any time)."""
        self._replaced_listeners: list[Callable[[KeySet], None]] = []
        self._attempted_at = float("-inf")
        self._last_error: FetchError | None = None
        self._inflight: asyncio.Task[KeySet | FetchError] | None = None

    @property
    def keys(self) -> KeySet | None:
        return self._keys

    @property
    def last_error(self) -> FetchError | None:
        """Why the last fetch failed; None once a fetch has succeeded again."""
        return self._last_error

    def on_replaced(self, listener: Callable[[KeySet], None]) -> None:
        """Call `listener(new_set)` whenever a fetch drops or replaces a key of the previous set,
        before anything else sees the new set, so that whatever was verified with the old key
        can be forgotten in the same step."""
        self._replaced_listeners.append(listener)

    def age(self) -> float | None:
        """Seconds since the last successful fetch; None while no key set was ever loaded."""
        return None if self._keys is None else self._clock() - self._fetched_at

    def refresh_if_due(self) -> None:
        """Start a background refresh when the set is older than `max_age` (as a request would).

        Only from inside the event loop (a health probe's); elsewhere it does nothing.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self.lookup("")

    async def load(self) -> KeySet:
        """The first fetch, at start-up; its failure is the caller's to report.

        Raises:
            FetchError: Keycloak could not be read.
        """
        result = await asyncio.shield(self._inflight or self._start_fetch())
        if isinstance(result, FetchError):
            raise result
        return result

    def lookup(self, kid: str) -> VerificationKey | None:
        """The key for `kid` without waiting; schedules a background refresh when the set is old."""
        now = self._clock()
        age = now - self._fetched_at
        if age > self._max_age and self._inflight is None and now - self._attempted_at >= self._cooldown:
            self._start_fetch()
        if self._keys is None or age > self._max_stale:
            return None
        return self._keys.get(kid)

    def is_current(self, key: VerificationKey, now: float) -> bool:
        """Whether `key` is still the realm's key for its kid (it may have been rotated out) at `now`.

        A young set is answered from `current`; an old one goes through `lookup` (refresh, staleness).
        """
        if now <= self.fresh_until:
            return self.current.get(key.kid) is key
        return self.lookup(key.kid) is key

    async def resolve_unknown(self, kid: str) -> VerificationKey | None:
        """Look `kid` up again after a refetch, if the cooldown allows one; None if still unknown.

        Raises:
            KeysUnavailableError: the key is unknown and Keycloak cannot be reached to learn it.
        """
        task = self._inflight
        if task is None:
            if self._clock() - self._attempted_at < self._cooldown:
                if self._last_error is not None:
                    raise KeysUnavailableError(
                        "signing keys cannot be fetched from Keycloak", reason="keys_unavailable"
                    )
                return None
            task = self._start_fetch()
        result = await asyncio.shield(task)
        key = self.lookup(kid)
        if key is None and isinstance(result, FetchError):
            raise KeysUnavailableError("signing keys cannot be fetched from Keycloak", reason="keys_unavailable")
        return key

    async def signing_key(self, kid: str) -> VerificationKey:
        """The realm's key for a token's `kid`: known, or learnt by one more fetch when the cooldown
        allows it (Keycloak rotated its keys); a token of any other `kid` is refused.

        Raises:
            InvalidTokenError: `kid` is none of the realm's signing keys.
            KeysUnavailableError: the key is unknown and Keycloak cannot be reached to learn it.
        """
        key = self.lookup(kid) or await self.resolve_unknown(kid)
        if key is None:
            raise InvalidTokenError("token key (kid) is not one of the realm's signing keys", reason="unknown_kid")
        return key

    async def close(self) -> None:
        task, self._inflight = self._inflight, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _start_fetch(self) -> asyncio.Task[KeySet | FetchError]:
        self._attempted_at = self._clock()
        task = asyncio.get_running_loop().create_task(self._run_fetch())
        self._inflight = task
        return task

    async def _run_fetch(self) -> KeySet | FetchError:
        """One fetch; returns its error instead of raising, so a background refresh never leaks one."""
        try:
            keys = await self._fetch(self._keys)
        except FetchError as exc:
            self._last_error = exc
            self._metrics.key_set_fetch("error")
            logger.warning(
                "key set fetch failed; known keys keep serving: %s",
                exc.diagnosis.problem,
                extra={"event": "key_set_fetch", "result": "error", "url": self._url, "status": exc.status_code},
            )
            return exc
        finally:
            self._inflight = None
        previous = self._keys
        removed = set(previous.keys) - set(keys.keys) if previous is not None else set()
        if previous is not None and any(keys.get(kid) is not key for kid, key in previous.keys.items()):
            # Before the new set is installed: if a listener failed, the old set (and its checks) would stay.
            for listener in self._replaced_listeners:
                listener(keys)
        self._keys, self._fetched_at, self._last_error = keys, self._clock(), None
        self.current, self.fresh_until = keys.keys, self._fetched_at + self._young
        self._metrics.key_set_fetch("ok")
        logger.info(
            "key set fetched: %d signing key(s): %s%s",
            len(keys),
            keys.describe(),
            f"; no longer trusted: {', '.join(sorted(removed))}" if removed else "",
            extra={
                "event": "key_set_fetch",
                "result": "ok",
                "url": self._url,
                "kids": [printable(kid) for kid in sorted(keys.keys)],
            },
        )
        for reason in keys.skipped:
            # Routine for Keycloak (its JWKS also lists an encryption key), so not a warning.
            logger.info("key set entry not used for verification: %s", reason)
        return keys
