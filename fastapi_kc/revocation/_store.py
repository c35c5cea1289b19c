"""The store interface, and the in-memory store for a single process.

A store records revocations and makes them reach the local `RevocationList` of every process
that serves requests; requests never call the store. Two operations come from the
back-channel logout route: `revoke` (record and share) and `first_use` (replay protection of
logout tokens by `jti`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Final, Literal

from fastapi_kc._revocations import Revocation, RevocationList

State = Literal["not started", "memory", "connected", "reconnecting", "stale", "closed"]
_PRUNE_INTERVAL: Final = 60.0  # seconds between two sweeps of forgotten revocations


class StoreUnavailableError(Exception):
    """The revocation was applied here but could not be shared with the other replicas."""


class RevocationStore(abc.ABC):
    """Where revocations are recorded and how they reach every replica's local view.

    `state` is what a health check reads: `memory` (one process, always fine), `connected`,
    `reconnecting` (shared store unreachable, known revocations keep serving), `stale`
    (unreachable longer than `revocation_max_stale_seconds`: requests are refused with 503).
    """

    state: State = "not started"

    @abc.abstractmethod
    async def start(self, revocations: RevocationList) -> None:
        """Load the known revocations into `revocations` and keep it fed until `close`.

        Raises:
            ConfigurationError: the store cannot be reached at start-up.
        """

    @abc.abstractmethod
    async def revoke(self, revocation: Revocation) -> None:
        """Apply `revocation` locally at once, then share it.

        Raises:
            StoreUnavailableError: applied locally, but not shared (retried on reconnect).
        """

    @abc.abstractmethod
    async def first_use(self, jti: str, until: float) -> bool:
        """Record a logout token's `jti` until `until`; False if it was seen before (a replay)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop feeding the local view and release connections."""


class MemoryRevocationStore(RevocationStore):
    """Revocations for one process: what this process receives is all it knows.

    With several processes or replicas, a logout reaches only the one Keycloak called: use
    Redis (`KEYCLOAK_REVOCATION_STORE=redis://...`) instead.
    """

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._revocations: RevocationList | None = None
        self._seen: dict[str, float] = {}  # jti -> until
        self._pruned_at = float("-inf")

    def __repr__(self) -> str:
        return f"MemoryRevocationStore(state={self.state!r})"

    async def start(self, revocations: RevocationList) -> None:
        self._revocations = revocations
        self.state = "memory"

    async def revoke(self, revocation: Revocation) -> None:
        if self._revocations is None:
            raise StoreUnavailableError("the revocation store is not started")
        self._revocations.apply(revocation)
        self._prune()

    async def first_use(self, jti: str, until: float) -> bool:
        self._prune()
        if jti in self._seen:
            return False
        self._seen[jti] = until
        return True

    async def close(self) -> None:
        self.state = "closed"

    def _prune(self) -> None:
        now = self._clock()
        if now - self._pruned_at < _PRUNE_INTERVAL:
            return
        self._pruned_at = now
        self._seen = {jti: until for jti, until in self._seen.items() if until > now}
        if self._revocations is not None:
            self._revocations.prune()
