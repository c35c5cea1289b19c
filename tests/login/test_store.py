"""The in-memory session store, and Authlib's cache on top of it."""

from __future__ import annotations

import asyncio

import pytest

from fastapi_kc.login import MemorySessionStore
from fastapi_kc.login._store import StateCache
from tests.support.clock import Clock


def test_a_saved_value_is_loaded_until_it_expires() -> None:
    clock = Clock(1000.0)
    store = MemorySessionStore(clock=clock)
    asyncio.run(store.save("k", {"a": 1}, ttl=60))
    clock.now += 59
    assert asyncio.run(store.load("k")) == {"a": 1}
    clock.now += 1
    assert asyncio.run(store.load("k")) is None


def test_a_loaded_value_is_a_copy() -> None:
    store = MemorySessionStore()
    value = {"roles": ["a"]}
    asyncio.run(store.save("k", value, ttl=60))
    value["roles"].append("admin")
    assert asyncio.run(store.load("k")) == {"roles": ["a"]}


def test_a_value_a_shared_store_could_not_hold_is_refused() -> None:
    with pytest.raises(TypeError):
        asyncio.run(MemorySessionStore().save("k", {"when": object()}, ttl=60))


def test_abandoned_entries_are_swept() -> None:
    clock = Clock(1000.0)
    store = MemorySessionStore(clock=clock, sweep_every=10)
    for n in range(9):
        asyncio.run(store.save(f"abandoned-{n}", {}, ttl=10))
    clock.now += 11
    asyncio.run(store.save("live", {}, ttl=10))
    assert list(store._entries) == ["live"]


def test_delete_forgets_and_ignores_unknown_keys() -> None:
    store = MemorySessionStore()
    asyncio.run(store.save("k", {}, ttl=60))
    asyncio.run(store.delete("k"))
    asyncio.run(store.delete("never-there"))
    assert asyncio.run(store.load("k")) is None


def test_authlibs_state_goes_into_the_store() -> None:
    store = MemorySessionStore()
    cache = StateCache(store)
    asyncio.run(cache.set("_state_keycloak_abc", '{"data": {"nonce": "n"}}', 3600))
    assert asyncio.run(cache.get("_state_keycloak_abc")) == '{"data": {"nonce": "n"}}'
    asyncio.run(cache.delete("_state_keycloak_abc"))
    assert asyncio.run(cache.get("_state_keycloak_abc")) is None
