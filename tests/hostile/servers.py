"""Hostile answers for the fake Keycloak, and streams that count what is actually read.

`CountingStream` is an `httpx.AsyncByteStream` that produces its body lazily, chunk by chunk,
and records how many bytes the client pulled and whether it was closed: the bound on what a
fetch reads is asserted from those counts, never from timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from fastapi_kc import ConfigurationError, KeycloakAuth
from tests.attacks.harness import build_settings
from tests.support.fake_keycloak import CERTS_PATH, DISCOVERY_PATH, FakeKeycloak

CHUNK = 64 * 1024


class CountingStream(httpx.AsyncByteStream):
    """`total` bytes (None: endless) of `fill`, in `chunk`-sized pieces, `delay` seconds apart."""

    def __init__(self, total: int | None, *, fill: bytes = b" ", chunk: int = CHUNK, delay: float = 0.0) -> None:
        self.total = total
        self.fill = fill
        self.chunk = chunk
        self.delay = delay
        self.pulled = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.total is None or self.pulled < self.total:
            if self.delay:
                await asyncio.sleep(self.delay)
            size = self.chunk if self.total is None else min(self.chunk, self.total - self.pulled)
            self.pulled += size
            yield (self.fill * (size // len(self.fill) + 1))[:size]

    async def aclose(self) -> None:
        self.closed = True


class ChunkStream(httpx.AsyncByteStream):
    """Given chunks, counted as they are pulled."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.pulled += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


Answer = Callable[[httpx.Request], httpx.Response | None]


def on(path: str, answer: Callable[[], httpx.Response]) -> Answer:
    """An override answering `path` with a fresh `answer()` and leaving the rest to the fake."""

    def override(request: httpx.Request) -> httpx.Response | None:
        return answer() if request.url.path == path else None

    return override


def certs(answer: Callable[[], httpx.Response]) -> Answer:
    return on(CERTS_PATH, answer)


def discovery(answer: Callable[[], httpx.Response]) -> Answer:
    return on(DISCOVERY_PATH, answer)


def start_failure(fake: FakeKeycloak, **overrides: Any) -> ConfigurationError:
    """Start a `KeycloakAuth` against `fake`; it must fail with a ConfigurationError, returned."""

    async def main() -> ConfigurationError:
        client = fake.client()
        auth = KeycloakAuth(build_settings(**overrides), http_client=client)
        try:
            await auth.start()
        except ConfigurationError as exc:
            return exc
        finally:
            await client.aclose()
        await auth.close()
        raise AssertionError("start-up succeeded against a hostile key server")

    return asyncio.run(main())


def start_ok(fake: FakeKeycloak, **overrides: Any) -> list[str]:
    """Start a `KeycloakAuth` against `fake`; it must start. Returns the kids it trusts."""

    async def main() -> list[str]:
        async with fake.client() as client, KeycloakAuth(build_settings(**overrides), http_client=client) as auth:
            keys = auth._keys.keys  # the trusted key set; read for the assertion only
            return sorted(keys.keys) if keys is not None else []

    return asyncio.run(main())
