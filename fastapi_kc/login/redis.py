"""Login sessions in Redis, shared by every replica: `pip install 'fastapi-kc[login,redis]'`.

`BrowserLogin(..., store=RedisSessionStore("redis://redis:6379/0"))`. Each value is one Redis
string (JSON) that Redis itself expires (`SET ... PX`), so nothing needs sweeping. While Redis is
unreachable, a request signed in by the cookie is answered 503 (retry later), never let in
unchecked and never with a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from fastapi_kc import UnavailableError
from fastapi_kc._settings import redact_url

logger = logging.getLogger("fastapi_kc.login")

_FAILURES: Final = (RedisError, OSError, asyncio.TimeoutError)


class RedisSessionStore:
    """A `SessionStore` on Redis. Keys are prefixed with `prefix`; one connection pool per store.

    Raises (from each call):
        UnavailableError: 503, Redis cannot be reached or failed.
    """

    def __init__(self, url: str, *, prefix: str = "fastapi_kc:login:", timeout_seconds: float = 2.0) -> None:
        self._url = url
        self._prefix = prefix
        self._client = aioredis.Redis.from_url(
            url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds
        )

    def __repr__(self) -> str:
        return f"RedisSessionStore({redact_url(self._url)!r})"

    async def load(self, key: str) -> dict[str, Any] | None:
        try:
            text = await self._client.get(self._prefix + key)
        except _FAILURES as exc:
            raise self._unavailable(exc) from None
        if text is None:
            return None
        value = json.loads(text)
        return value if isinstance(value, dict) else None

    async def save(self, key: str, value: dict[str, Any], ttl: float) -> None:
        text = json.dumps(value)
        try:
            await self._client.set(self._prefix + key, text, px=max(1, math.ceil(ttl * 1000)))
        except _FAILURES as exc:
            raise self._unavailable(exc) from None

    async def delete(self, key: str) -> None:
        try:
            await self._client.delete(self._prefix + key)
        except _FAILURES as exc:
            raise self._unavailable(exc) from None

    async def aclose(self) -> None:
        await self._client.aclose()

    def _unavailable(self, exc: BaseException) -> UnavailableError:
        logger.warning("login session store %s unreachable (%s)", redact_url(self._url), type(exc).__name__)
        return UnavailableError("the login session store cannot be reached: retry shortly", reason="session_store")
