"""A migrated, empty SQLite database, copied where a test wants a fresh one.

Opening a new file replays every migration through tortoise's migration state machine:
about two seconds of CPU on a slow machine, paid again by each of the thousand tests that
want an empty, current database and test nothing about migrations. The migrations are
applied once per test process instead, by `open_database` itself in a child process (so
nothing of tortoise's global state leaks into the test's loop), and each test gets a copy.
What the migrations do to a new or an old database is tested in tests/test_migrations.py,
which builds its own files, and by every test that starts `fedgroup serve` on a new file.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

_MIGRATE = (
    "import asyncio, sys\n"
    "from fedgroup.storage.db import close_database, open_database\n"
    "async def main():\n"
    "    await open_database('sqlite://' + sys.argv[1])\n"
    "    await close_database()\n"
    "asyncio.run(main())\n"
)

_lock = threading.Lock()
_template: Path | None = None


def _migrated_template() -> Path:
    global _template
    with _lock:
        if _template is None:
            directory = Path(tempfile.mkdtemp(prefix="fedgroup-template-"))
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            path = directory / "migrated.sqlite3"
            subprocess.run([sys.executable, "-c", _MIGRATE, str(path)], check=True, timeout=300)
            _template = path
        return _template


def fresh_database(path: Path) -> Path:
    """Put an empty, fully migrated database at `path`, unless a file is already there (a
    test restarting a server on its own database keeps it)."""
    if not path.exists():
        shutil.copyfile(_migrated_template(), path)
    return path
