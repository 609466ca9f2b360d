"""Which commits wait for the disk: the worker process's do not, everyone else's do.

A power cut is the only thing that tells them apart, and a test cannot cut the power; what
it can check is what each connection asks SQLite for (`PRAGMA synchronous`: 2 is FULL, a
flush at every commit; 1 is NORMAL, the flush left to checkpoints), which is what decides it.
See `fedgroup.storage.db.open_database` for why the worker's commits may be lost that way.
"""

from __future__ import annotations

from pathlib import Path

from tortoise import connections

from fedgroup.storage.db import close_database, open_database

FULL, NORMAL = 2, 1


async def _synchronous() -> int:
    _count, rows = await connections.get("default").execute_query("PRAGMA synchronous")
    return rows[0][0]


async def test_commits_wait_for_the_disk_unless_the_worker_opens_the_database(
    tmp_path: Path,
) -> None:
    url = f"sqlite://{tmp_path / 'fedgroup.sqlite3'}"
    await open_database(url)
    try:
        assert await _synchronous() == FULL
    finally:
        await close_database()
    await open_database(url, durable_commits=False)
    try:
        assert await _synchronous() == NORMAL
    finally:
        await close_database()
    await open_database(url + "?synchronous=FULL", durable_commits=False)
    try:
        assert await _synchronous() == FULL  # an operator's explicit choice wins
    finally:
        await close_database()
