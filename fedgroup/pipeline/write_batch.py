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

Writes of one kind that merge (`Merged`: every delivery marked sent with the same answer) are
applied by one statement per batch instead of one each: at a thousand sends a second, the
per-statement cost of the ORM, not the disk, was what bounded the worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

log = logging.getLogger(__name__)

Work = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class Merged:
    """A kind of write whose items are applied together: `apply(items)` runs once per batch
    (in one savepoint) with every item of that kind queued meanwhile."""

    name: str
    apply: Callable[[list[Any]], Awaitable[None]]


@dataclass(frozen=True)
class _Item:
    kind: Merged
    value: Hashable


class CommitBatcher:
    """`await batcher.write(lambda: ...)`: run the write in the next shared transaction."""

    def __init__(self, *, max_batch: int = 256) -> None:
        self._max_batch = max_batch
        self._queued: list[tuple[Work | _Item, asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, work: Work) -> Any:
        return await self._enqueue(work)

    async def write_merged(self, kind: Merged, value: Hashable) -> None:
        """Queue `value` for `kind.apply`, and return once the commit that applied it is done."""
        await self._enqueue(_Item(kind, value))

    async def _enqueue(self, work: Work | _Item) -> Any:
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
                        done.set_exception(
                            exc
                            if isinstance(exc, Exception)
                            else RuntimeError("the write was abandoned")
                        )
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
        self, batch: list[tuple[Work | _Item, asyncio.Future[Any]]]
    ) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any] | None] = [None] * len(batch)
        merged: dict[Merged, list[int]] = {}
        async with in_transaction():
            for index, (work, _done) in enumerate(batch):
                if isinstance(work, _Item):
                    merged.setdefault(work.kind, []).append(index)
                    continue
                try:
                    async with in_transaction():  # a savepoint: a failure undoes only this
                        outcomes[index] = (True, await work())
                except Exception as exc:
                    outcomes[index] = (False, exc)
            for kind, indexes in merged.items():
                items = [batch[i][0].value for i in indexes]  # type: ignore[union-attr]
                try:
                    async with in_transaction():
                        await kind.apply(items)
                    outcome: tuple[bool, Any] = (True, None)
                except Exception as exc:
                    outcome = (False, exc)
                for i in indexes:
                    outcomes[i] = outcome
        return [o for o in outcomes if o is not None]
