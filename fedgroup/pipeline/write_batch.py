"""Small writes from many tasks, committed together.

A durable commit costs a disk flush (milliseconds on SQLite with `synchronous=FULL`), and the
delivery worker records an outcome for every POST it sends: committed one by one, the
flushes, not the network, would bound how fast a post reaches a big group. `CommitBatcher`
runs the writes queued while the previous commit was on disk in one transaction, each in a
savepoint of its own so that one failing write rolls back only itself, and returns to each
caller after the commit that holds its write.

What is written this way may be lost by a crash between the write and its commit; only
outcomes that are safe to redo go through it (a delivery recorded as sent is at worst sent
again, and receivers deduplicate by activity id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tortoise.transactions import in_transaction

log = logging.getLogger(__name__)

Work = Callable[[], Awaitable[Any]]


class CommitBatcher:
    """`await batcher.write(lambda: ...)`: run the write in the next shared transaction."""

    def __init__(self, *, max_batch: int = 256) -> None:
        self._max_batch = max_batch
        self._queued: list[tuple[Work, asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, work: Work) -> Any:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queued.append((work, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="commit-batcher")
        return await done

    async def settle(self) -> None:
        """Wait until what is queued is committed (at shutdown, before the database closes)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        """Commit batches until nothing is queued, then end (the next write starts anew)."""
        while self._queued:
            batch = self._queued[: self._max_batch]
            del self._queued[: self._max_batch]
            try:
                outcomes = await self._commit(batch)
            except BaseException as exc:  # the commit itself failed, or we were cancelled
                for _work, done in batch:
                    if not done.done():
                        done.set_exception(exc if isinstance(exc, Exception) else RuntimeError(
                            "the write was abandoned"
                        ))
                if not isinstance(exc, Exception):
                    raise
                log.warning("batched commit of %d writes failed: %s", len(batch), exc)
                continue
            for (_work, done), (ok, value) in zip(batch, outcomes, strict=True):
                if done.done():
                    continue
                if ok:
                    done.set_result(value)
                else:
                    done.set_exception(value)

    async def _commit(
        self, batch: list[tuple[Work, asyncio.Future[Any]]]
    ) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        async with in_transaction():
            for work, _done in batch:
                try:
                    async with in_transaction():  # a savepoint: a failure undoes only this
                        outcomes.append((True, await work()))
                except Exception as exc:
                    outcomes.append((False, exc))
        return outcomes
