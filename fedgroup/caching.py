"""Bounded in-memory caches for what the hot paths would otherwise read from the database on
every request (parsed public keys, the domain rules, instance liveness).

Every cache has a cap on its entries and a time to live, so memory stays bounded whatever a
remote server sends and a stale entry cannot outlive its TTL. All caches are registered here:
opening a database clears them (a process that opens another database, as the test suite
does, must not believe anything read from the previous one), and cross-process invalidation
(`service.cache_epochs`) clears them by name.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_REGISTRY: dict[str, BoundedCache[object, object]] = {}


class BoundedCache(Generic[K, V]):
    """A least-recently-used map of at most `max_entries`, each entry valid for `ttl` seconds
    (or until the deadline given with it, if sooner)."""

    def __init__(
        self,
        name: str,
        *,
        max_entries: int,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.max_entries = max_entries
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        _REGISTRY[name] = self  # type: ignore[assignment]

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V, *, valid_for: float | None = None) -> None:
        ttl = self.ttl if valid_for is None else max(0.0, min(self.ttl, valid_for))
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def discard_where(self, drop: Callable[[V], bool]) -> None:
        """Forget every entry whose value `drop` picks (a scan: for rare events only)."""
        for key in [k for k, (_, value) in self._entries.items() if drop(value)]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def clear(name: str) -> None:
    """Forget everything the cache called `name` holds (unknown names are ignored)."""
    cache = _REGISTRY.get(name)
    if cache is not None:
        cache.clear()


def clear_all() -> None:
    for cache in _REGISTRY.values():
        cache.clear()


def caps() -> dict[str, tuple[int, float]]:
    """Each cache's (max entries, TTL in seconds), for the documentation and its test."""
    return {name: (cache.max_entries, cache.ttl) for name, cache in _REGISTRY.items()}
