"""Where login sessions live: on the server, never in the browser.

The browser's cookie carries only a random session id (signed by Starlette's `SessionMiddleware`);
the tokens stay in a `SessionStore`. The store holds JSON-compatible dicts with a time to live, so
a shared store (Redis) can replace the in-memory one for several replicas without a change here.
Authlib's temporary login state (PKCE verifier, nonce, redirect URI) goes into the same store, as
its `cache`, instead of into the cookie.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol


class SessionStore(Protocol):
    """A key-value store with expiry; keys are opaque strings, values JSON-compatible dicts."""

    async def load(self, key: str) -> dict[str, Any] | None:
        """The value saved under `key`, or None when absent or expired."""

    async def save(self, key: str, value: dict[str, Any], ttl: float) -> None:
        """Save `value` under `key` for `ttl` seconds, replacing what was there."""

    async def delete(self, key: str) -> None:
        """Forget `key`; nothing happens when it is absent."""


class MemorySessionStore:
    """The default store: a dict in this process, with expiry on a clock that tests may pass in.

    Sessions do not survive a restart and are not shared between replicas: use a shared store
    there. Expired entries are dropped when read and, in one sweep, once the store has grown by
    `sweep_every` writes, so abandoned logins cannot grow it without bound.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, sweep_every: int = 1000) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[float, str]] = {}
        self._sweep_every = sweep_every
        self._writes = 0

    def __len__(self) -> int:
        now = self._clock()
        return sum(1 for expires, _ in self._entries.values() if expires > now)

    async def load(self, key: str) -> dict[str, Any] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, text = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        value: dict[str, Any] = json.loads(text)
        return value

    async def save(self, key: str, value: dict[str, Any], ttl: float) -> None:
        # Stored as JSON text, like a shared store would: a caller mutating its dict afterwards
        # cannot change the session, and a value that a shared store could not hold fails here too.
        self._entries[key] = (self._clock() + ttl, json.dumps(value))
        self._writes += 1
        if self._writes >= self._sweep_every:
            self._writes = 0
            now = self._clock()
            self._entries = {k: entry for k, entry in self._entries.items() if entry[0] > now}

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)


class StateCache:
    """Authlib's `cache` interface (`get`/`set`/`delete` of strings) on a `SessionStore`.

    With a cache, Authlib keeps only an expiry marker in the cookie session and the login state
    itself (PKCE `code_verifier`, `nonce`, `redirect_uri`) on the server.
    """

    def __init__(self, store: SessionStore, prefix: str = "login-state:") -> None:
        self._store = store
        self._prefix = prefix

    async def get(self, key: str) -> str | None:
        value = await self._store.load(self._prefix + key)
        return None if value is None else str(value["text"])

    async def set(self, key: str, value: str, expires: float | None = None) -> None:
        await self._store.save(self._prefix + key, {"text": value}, expires or 600)

    async def delete(self, key: str) -> None:
        await self._store.delete(self._prefix + key)
