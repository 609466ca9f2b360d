"""Tortoise's SQLite engine, with transactions that claim the write lock when they begin.

SQLite's default `BEGIN` is deferred: the transaction reads first and asks for the write
lock at its first write. When another process (the worker process beside the web process,
or the admin CLI) has committed since that first read, SQLite cannot upgrade the stale
snapshot and answers "database is locked" at once, without waiting the busy timeout: the
inbox's group commit then fell back to one row per commit, and handlers failed and waited
for a retry. `BEGIN IMMEDIATE` takes the write lock first, waiting (busy timeout) for the
other writer to commit, so a transaction that starts always finishes. Statements outside a
transaction are unaffected; PostgreSQL is not concerned.

A connection opened with `run_on_loop` (the worker process, whose commits do not wait for the
disk) runs its statements on the event loop's own thread instead of aiosqlite's thread. The
worker makes a dozen small statements per post, each a few tens of microseconds in SQLite;
through a thread each also cost a hand-off, and tortoise's one connection lock was held
across it: with the loop busy sending, a statement waited tens of milliseconds for the lock,
and the inbound queue crawled while the database sat idle. Run on the loop, a statement
holds nothing across an await. It must never block the loop on another process's lock, so
its busy timeout is zero and a busy database is waited for here, asleep on the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import aiosqlite
from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError

ENGINE = __name__


#: Result codes worth waiting on: another connection holds the lock. (SQLITE_BUSY_SNAPSHOT is
#: not among them: a stale read snapshot never becomes writable by waiting.)
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, 261})  # 261: SQLITE_BUSY_RECOVERY


class LoopConnection(aiosqlite.Connection):
    """aiosqlite's interface, each call run at once on the calling (event loop) thread.

    A statement that finds the database locked by another process is retried after a short
    sleep on the loop, with growing pauses, until `busy_timeout` seconds have passed: what
    SQLite's busy timeout would do, without stopping the loop meanwhile. Retrying is safe:
    a statement refused as busy did nothing."""

    def __init__(self, path: str, *, busy_timeout: float) -> None:
        super().__init__(lambda: sqlite3.connect(path, isolation_level=None), 64)
        self._busy_timeout = busy_timeout

    def __await__(self) -> Any:
        return self._connect().__await__()

    async def _connect(self) -> LoopConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        deadline: float | None = None
        pause = 0.001
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", None) not in _BUSY_CODES:
                    raise
                now = time.monotonic()
                deadline = now + self._busy_timeout if deadline is None else deadline
                if now >= deadline:
                    raise
                await asyncio.sleep(min(pause, deadline - now))
                pause = min(pause * 2, 0.05)

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    """A transaction that begins with `BEGIN IMMEDIATE` (nested ones are savepoints)."""

    async def begin(self) -> None:
        try:
            if self._connection.in_transaction:  # tortoise's habit; a round trip otherwise
                await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateSqliteClient(SqliteClient):
    """SqliteClient whose `in_transaction()` takes the write lock up front, and whose
    statements run on the event loop when it is opened with `run_on_loop`."""

    def __init__(self, file_path: str, **kwargs: Any) -> None:
        self._run_on_loop = str(kwargs.pop("run_on_loop", "")).lower() in ("1", "true")
        super().__init__(file_path, **kwargs)

    async def create_connection(self, with_db: bool) -> None:
        if not self._run_on_loop:
            await super().create_connection(with_db)
            return
        if self._connection:
            return
        busy_ms = int(self.pragmas.get("busy_timeout", 0) or 0)
        connection = await LoopConnection(self.filename, busy_timeout=busy_ms / 1000)
        connection._conn.row_factory = sqlite3.Row
        for pragma, value in self.pragmas.items():
            # SQLite itself must never wait: it would stop the loop. LoopConnection waits.
            shown = 0 if pragma == "busy_timeout" else value
            cursor = await connection.execute(f"PRAGMA {pragma}={shown}")
            await cursor.close()
        self._connection = connection
        await self._post_connect()

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient
