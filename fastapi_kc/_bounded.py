"""A dictionary kept under a size limit, for the caches that Keycloak's answers fill.

The introspection answers and the exchanged tokens are keyed by what callers send (digests of
their tokens), so an unbounded dictionary would grow with every distinct token seen. Both
caches keep insertion order as age and evict the same way: once over the limit, the expired
entries go first, then the oldest, so a flood of new keys costs the cache its oldest entries,
never memory without bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def put_bounded(entries: dict[K, V], key: K, value: V, *, limit: int, expired: Callable[[V], bool]) -> None:
    """Store `value` under `key` as the newest entry, then evict down to `limit` entries."""
    entries.pop(key, None)
    entries[key] = value  # last in insertion order: the newest
    if len(entries) <= limit:
        return
    for stale in [k for k, v in entries.items() if expired(v)]:
        del entries[stale]
    while len(entries) > limit:
        del entries[next(iter(entries))]
