"""Tortoise's SQLite engine, with transactions that claim the write lock when they begin.

SQLite's default `BEGIN` is deferred: the transaction reads first and asks for the write
lock at its first write. When another process (the worker process beside the web process,
or the admin CLI) has committed since that first read, SQLite cannot upgrade the stale
snapshot and answers "database is locked" at once, without waiting the busy timeout: the
inbox's group commit then fell back to one row per commit, and handlers failed and waited
for a retry. `BEGIN IMMEDIATE` takes the write lock first, waiting (busy timeout) for the
other writer to commit, so a transaction that starts always finishes. Statements outside a
transaction are unaffected; PostgreSQL is not concerned.
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError

ENGINE = __name__


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    """A transaction that begins with `BEGIN IMMEDIATE` (nested ones are savepoints)."""

    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateSqliteClient(SqliteClient):
    """SqliteClient whose `in_transaction()` takes the write lock up front."""

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient
