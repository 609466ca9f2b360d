"""Storing inbound activities by group commit: what arrives together is written together.

A durable commit (`synchronous=FULL` on SQLite, a WAL flush on PostgreSQL) costs the same
for one row as for a hundred. The inbox hands each verified activity to `InboxWriter.store`,
which waits while one writer task commits everything queued so far in one transaction; each
request still gets its answer only after the commit that holds its row, so a 202 is never
given for something a crash could lose.

Duplicates (an id already stored, or twice in one batch) are found inside the transaction.
When the batch's insert fails anyway (a row the database refuses, or another process
inserting the same id in between), each row of it is retried in a transaction of its own:
the others are stored and answered, and only the failing one gets its error.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from ..storage.models import Activity

log = logging.getLogger(__name__)

#: Rows per transaction at most; more queue for the next commit.
MAX_BATCH = 256
#: Requests waiting for a commit at most; beyond that the inbox answers 503 (the sender
#: retries later) instead of holding more bodies in memory.
MAX_WAITING = 4096


@dataclass(frozen=True)
class InboundRow:
    """A verified activity as the inbound queue stores it."""

    ap_id: str
    type: str
    actor: str
    object_id: str | None
    group_id: int | None
    payload: dict[str, Any]

    def model(self) -> Activity:
        return Activity(
            ap_id=self.ap_id,
            type=self.type,
            actor=self.actor,
            object_id=self.object_id,
            inbound=True,
            group_id=self.group_id,
            payload=self.payload,
        )


class StoreFailed(Exception):
    """The row could not be stored (nothing was); the sender should try again later."""


_Waiter = tuple[InboundRow, "asyncio.Future[bool]"]


class InboxWriter:
    """Queues rows and commits them in batches from one task (`run`, a runtime worker).

    `store` returns True when the row was stored, False when its id was already there.
    """

    def __init__(self, *, max_batch: int = MAX_BATCH, max_waiting: int = MAX_WAITING) -> None:
        self._max_batch = max_batch
        self._max_waiting = max_waiting
        self._waiting: list[_Waiter] = []
        self._ready = asyncio.Event()
        self._running = False

    async def store(self, row: InboundRow) -> bool:
        if not self._running:
            raise StoreFailed("the server is not accepting activities now")
        if len(self._waiting) >= self._max_waiting:
            raise StoreFailed("too many activities waiting to be stored")
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, done))
        self._ready.set()
        return await done

    async def run(self) -> None:
        """Forever: commit what is waiting, one batch per transaction."""
        self._running = True
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._waiting:
                    batch = self._waiting[: self._max_batch]
                    del self._waiting[: self._max_batch]
                    await self._commit(batch)
        finally:
            self._running = False
            for _row, done in self._waiting:
                if not done.done():
                    done.set_exception(StoreFailed("the server is shutting down"))
            self._waiting.clear()

    async def _commit(self, batch: list[_Waiter]) -> None:
        try:
            outcomes = await _insert_batch([row for row, _ in batch])
        except asyncio.CancelledError:
            for _row, done in batch:
                if not done.done():
                    done.set_exception(StoreFailed("the server is shutting down"))
            raise
        except Exception as exc:
            log.info("group commit of %d rows failed (%s); storing one by one", len(batch), exc)
            for row, done in batch:
                await _settle(done, _insert_one(row))
            return
        for (_row, done), stored in zip(batch, outcomes, strict=True):
            if not done.done():
                done.set_result(stored)


async def _settle(done: asyncio.Future[bool], outcome: Any) -> None:
    try:
        result = await outcome
    except Exception as exc:
        if not done.done():
            done.set_exception(StoreFailed(f"not stored: {type(exc).__name__}"))
        return
    if not done.done():
        done.set_result(result)


async def _insert_batch(rows: list[InboundRow]) -> list[bool]:
    """Insert the rows whose ids are new, in one transaction; per row, whether it was."""
    ids = list({row.ap_id for row in rows})
    async with in_transaction() as connection:
        known = set(
            await Activity.filter(ap_id__in=ids)
            .using_db(connection)
            .values_list("ap_id", flat=True)
        )
        outcomes = []
        fresh = []
        for row in rows:
            new = row.ap_id not in known
            outcomes.append(new)
            if new:
                known.add(row.ap_id)
                fresh.append(row.model())
        if fresh:
            await Activity.bulk_create(fresh, using_db=connection)
    return outcomes


async def _insert_one(row: InboundRow) -> bool:
    try:
        await row.model().save()
    except IntegrityError:
        if await Activity.exists(ap_id=row.ap_id):
            return False
        raise
    return True
