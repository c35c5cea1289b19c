"""The size limit the introspection and token-exchange caches share: expired entries go first,
then the oldest; storing a key again makes it the newest."""

from __future__ import annotations

from fastapi_kc._bounded import put_bounded


def test_under_the_limit_nothing_is_evicted() -> None:
    entries = {"a": 1}
    put_bounded(entries, "b", 2, limit=2, expired=lambda value: True)
    assert entries == {"a": 1, "b": 2}


def test_over_the_limit_expired_entries_go_before_older_live_ones() -> None:
    entries = {"live-old": 10, "expired": 1}
    put_bounded(entries, "new", 11, limit=2, expired=lambda value: value < 5)
    assert list(entries) == ["live-old", "new"]


def test_when_nothing_is_expired_the_oldest_goes() -> None:
    entries = {"a": 10, "b": 11}
    put_bounded(entries, "c", 12, limit=2, expired=lambda value: False)
    assert list(entries) == ["b", "c"]


def test_a_key_stored_again_becomes_the_newest() -> None:
    entries = {"a": 10, "b": 11}
    put_bounded(entries, "a", 12, limit=2, expired=lambda value: False)
    put_bounded(entries, "c", 13, limit=2, expired=lambda value: False)
    assert entries == {"a": 12, "c": 13}
