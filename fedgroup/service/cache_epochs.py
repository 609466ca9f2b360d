"""Telling every process that a cached thing changed.

Whoever changes what a cache holds (the domain rules: a policy, a server-wide ban) calls
`bump(name)` after its write: the cache of this process is cleared at once, and the name's
row in `cache_epochs` is counted up. Every server process runs `watch_epochs`, which reads
those few rows every `CHECK_INTERVAL` seconds and clears the caches whose epoch moved, so a
change made by the admin CLI (another process) or by another server process on PostgreSQL
is obeyed within about that interval.
"""

from __future__ import annotations

import asyncio
import logging

from tortoise.expressions import F

from .. import caching
from ..storage.models import CacheEpoch

log = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0  # seconds: how long a change made elsewhere may go unseen here

DOMAIN_RULES = "domain_rules"


async def bump(*names: str) -> None:
    for name in names:
        updated = await CacheEpoch.filter(name=name).update(epoch=F("epoch") + 1)
        if not updated:
            await CacheEpoch.get_or_create(name=name, defaults={"epoch": 1})
        caching.clear(name)


async def read_epochs() -> dict[str, int]:
    return dict(await CacheEpoch.all().values_list("name", "epoch"))


class EpochWatcher:
    """Clears the caches whose epoch moved since the last look."""

    def __init__(self) -> None:
        self._seen: dict[str, int] | None = None

    async def check(self) -> list[str]:
        """Look once; returns the names whose caches were cleared."""
        epochs = await read_epochs()
        seen, self._seen = self._seen, epochs
        if seen is None:
            caching.clear_all()  # nothing cached before the first look can be trusted
            return list(epochs)
        moved = [name for name, epoch in epochs.items() if seen.get(name) != epoch]
        for name in moved:
            caching.clear(name)
        return moved


async def watch_epochs(interval: float = CHECK_INTERVAL) -> None:
    """Forever (a runtime worker): look for changes made by other processes."""
    watcher = EpochWatcher()
    while True:
        try:
            await watcher.check()
        except Exception:
            log.exception("reading cache epochs failed; trying again")
        await asyncio.sleep(interval)
