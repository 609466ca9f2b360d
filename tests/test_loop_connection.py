"""The worker's SQLite connection runs statements on the event loop (storage.sqlite_engine).

What must hold: statements and transactions work as through aiosqlite's thread; a database
locked by another process is waited for without stopping the loop (the worker keeps sending
meanwhile), and given up with SQLite's own "database is locked" after the busy timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from fedgroup.storage.db import close_database, open_database
from fedgroup.storage.models import Group
from fedgroup.storage.sqlite_engine import LoopConnection


def _hold_write_lock(path: Path, seconds: float, held: threading.Event) -> None:
    """Another process's writer, as SQLite sees it: a connection holding the write lock."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    held.set()
    time.sleep(seconds)
    other.execute("COMMIT")
    other.close()


async def _another_writer(path: Path, seconds: float) -> threading.Thread:
    """Start a writer that holds the lock for `seconds`; return once it holds it."""
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, seconds, held))
    holder.start()
    await asyncio.to_thread(held.wait)
    return holder


async def _ticks_while(work: asyncio.Future) -> int:
    """How many 10 ms ticks the loop ran while `work` was pending."""
    ticks = 0
    while not work.done():
        await asyncio.sleep(0.01)
        ticks += 1
    return ticks


async def test_the_workers_connection_runs_on_the_loop_and_works_like_any(tmp_path: Path):
    await open_database(f"sqlite://{tmp_path / 'db.sqlite3'}", durable_commits=False)
    try:
        client = connections.get("default")
        _count, rows = await client.execute_query("PRAGMA busy_timeout")
        assert isinstance(client._connection, LoopConnection)
        assert rows[0][0] == 0  # SQLite never waits on the loop; LoopConnection does
        async with in_transaction():
            await Group.create(name="jazz", private_key_pem="k", public_key_pem="p")
        with pytest.raises(RuntimeError):
            async with in_transaction():
                await Group.create(name="folk", private_key_pem="k", public_key_pem="p")
                raise RuntimeError("rolled back")
        assert [g.name for g in await Group.all()] == ["jazz"]
    finally:
        await close_database()


async def test_a_locked_database_is_waited_for_while_the_loop_runs(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    await open_database(f"sqlite://{path}", durable_commits=False)
    try:
        holder = await _another_writer(path, 0.5)
        started = time.monotonic()
        write = asyncio.ensure_future(
            Group.create(name="jazz", private_key_pem="k", public_key_pem="p")
        )
        ticks = await _ticks_while(write)
        await write
        holder.join()
        waited = time.monotonic() - started
        assert waited >= 0.3  # it did wait for the other writer…
        assert ticks >= 10  # …and the loop kept running meanwhile
        assert await Group.filter(name="jazz").exists()
    finally:
        await close_database()


async def test_a_lock_held_past_the_busy_timeout_is_an_error_not_a_hang(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    await open_database(f"sqlite://{path}?busy_timeout=300", durable_commits=False)
    try:
        holder = await _another_writer(path, 1.5)
        started = time.monotonic()
        with pytest.raises(Exception, match="database is locked"):
            await Group.create(name="jazz", private_key_pem="k", public_key_pem="p")
        assert 0.25 <= time.monotonic() - started < 1.2
        holder.join()
        assert not await Group.filter(name="jazz").exists()
    finally:
        await close_database()
