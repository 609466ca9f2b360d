"""Fixtures shared across test files. Keep each one small and say what it gives."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fedgroup.storage.db import close_database, open_database


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A SQLite URL for a fresh file under the test's tmp_path (nothing opened yet)."""
    return f"sqlite://{tmp_path}/db.sqlite3"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[str]:
    """An open, migrated database at `database_url` for the test's event loop."""
    await open_database(database_url)
    try:
        yield database_url
    finally:
        await close_database()


@pytest.fixture
def fedgroup_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> dict[str, str]:
    """os.environ without the developer's FEDGROUP_* settings, pointing at `database_url`.

    Applied to this process (for in-process `main([...])` calls) and returned as a dict to
    hand to subprocesses.
    """
    for name in list(os.environ):
        if name.startswith("FEDGROUP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FEDGROUP_DATABASE_URL", database_url)
    return dict(os.environ)
