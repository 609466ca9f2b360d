"""Backing up and restoring a SQLite database, safely while (and only while) it is safe.

A backup is taken with `VACUUM INTO` from a read transaction: SQLite in WAL mode lets the
server go on writing meanwhile, and the copy is exactly the database as it was when the
backup began, compacted, without a `-wal` beside it. Everything the server had committed
before then (every request it answered 202) is in it.

A restore must not happen under a running server: its open connections would go on writing
into the file that was replaced, or read pages of the new one through the old WAL index.
Every connection to a WAL database holds a shared lock on one byte of its `-shm` file (the
byte SQLite itself tests to learn whether it is the first to open the file), so a restore
takes an exclusive lock on that byte: if it can, nobody has the database open, and while it
holds it nobody can open it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

#: Tables every fedgroup database has, whatever its version: how a file is recognised.
FEDGROUP_TABLES = frozenset({"tortoise_migrations", "groups", "activities", "deliveries"})
#: The byte of `-shm` every WAL connection holds a shared lock on (SQLite's "DMS" slot:
#: WALINDEX_LOCK_OFFSET 120 + SQLITE_SHM_NLOCK 8).
_SHM_DMS_BYTE = 128
_SQLITE_HEADER = b"SQLite format 3\x00"


class BackupError(Exception):
    """A backup or restore cannot be done; the message is one line saying why."""


@dataclass(frozen=True)
class DatabaseFile:
    """What a check of a database file found: its size and the migrations it has seen."""

    path: Path
    size: int
    migrations: tuple[str, ...]


def check_fedgroup_database(path: Path) -> DatabaseFile:
    """Open `path` read-only and make sure it is a sound fedgroup database; BackupError if
    it is missing, not SQLite, damaged (integrity check) or some other program's."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    with path.open("rb") as handle:
        if handle.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
            raise BackupError(f"{path} is not a SQLite database")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            integrity = connection.execute("PRAGMA integrity_check").fetchall()
            tables = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            migrations: tuple[str, ...] = ()
            if "tortoise_migrations" in tables:
                migrations = tuple(
                    row[0]
                    for row in connection.execute(
                        "SELECT name FROM tortoise_migrations ORDER BY id"
                    )
                )
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is damaged: {exc}") from None
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: {exc}") from None
    if integrity != [("ok",)]:
        first = integrity[0][0] if integrity else "no answer"
        raise BackupError(f"{path} is damaged: SQLite's integrity check says {first}")
    missing = FEDGROUP_TABLES - tables
    if missing:
        raise BackupError(
            f"{path} is not a fedgroup database (no {', '.join(sorted(missing))} table)"
        )
    return DatabaseFile(path=path, size=path.stat().st_size, migrations=migrations)


def backup_sqlite(database: Path, target: Path) -> DatabaseFile:
    """Write a consistent copy of `database` to `target` (which must not exist) while the
    server may be writing; returns the checked copy."""
    if target.exists():
        raise BackupError(f"{target} exists already; give a new file name")
    if not target.parent.is_dir():
        raise BackupError(f"directory {target.parent} does not exist")
    check_fedgroup_database(database)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        connection = sqlite3.connect(database, timeout=30)
        try:
            connection.execute("VACUUM INTO ?", (str(partial),))
        finally:
            connection.close()
        copy = check_fedgroup_database(partial)
        os.link(partial, target)  # never replaces a file that appeared meanwhile
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {database} failed: {exc}") from None
    except FileExistsError:
        raise BackupError(f"{target} exists already; give a new file name") from None
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return DatabaseFile(path=target, size=copy.size, migrations=copy.migrations)


@contextlib.contextmanager
def exclusive_use(database: Path) -> Iterator[None]:
    """Hold `database` so that nobody has it open, or raise BackupError naming why not."""
    shm = database.with_name(database.name + "-shm")
    try:
        fd = os.open(shm, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise BackupError(f"cannot lock {database}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_BYTE)
        except OSError:
            raise BackupError(
                f"{database} is in use (a fedgroup server or command has it open); "
                "stop the server first"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def restore_sqlite(
    backup: Path, database: Path, *, known_migrations: frozenset[str]
) -> tuple[DatabaseFile, Path | None]:
    """Put the backup in place of `database`, which nobody may have open.

    A backup made by a newer fedgroup (migrations this version does not know) is refused:
    this version could not use it. The database it replaces is kept beside it
    (`NAME.replaced-TIMESTAMP`, with its WAL) rather than destroyed; returns the restored
    file and that one (None when there was none).
    """
    restored = check_fedgroup_database(backup)
    unknown = [name for name in restored.migrations if name not in known_migrations]
    if unknown:
        raise BackupError(
            f"{backup} was made by a newer fedgroup (migration {unknown[0]} is unknown to "
            "this version); upgrade fedgroup first"
        )
    if not database.parent.is_dir():
        raise BackupError(f"directory {database.parent} does not exist")
    if database.exists() and backup.resolve() == database.resolve():
        raise BackupError(f"{backup} is the database itself")
    incoming = database.with_name(f".{database.name}.restoring")
    kept: Path | None = None
    with exclusive_use(database):
        try:
            incoming.unlink(missing_ok=True)
            connection = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
            target = sqlite3.connect(incoming)
            try:
                connection.backup(target)
                # The server runs it in WAL mode (see storage.db), which is also what lets
                # the next restore see whether it is open.
                target.execute("PRAGMA journal_mode=WAL").fetchone()
            finally:
                target.close()
                connection.close()
            wal = database.with_name(database.name + "-wal")
            if database.exists():
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                kept = database.with_name(f"{database.name}.replaced-{stamp}")
                for n in range(2, 100):
                    if not kept.exists():
                        break
                    kept = database.with_name(f"{database.name}.replaced-{stamp}-{n}")
                os.replace(database, kept)
                if wal.exists():  # what it had not checkpointed goes with it
                    os.replace(wal, kept.with_name(kept.name + "-wal"))
            # A WAL left by the old file would be replayed into the new one.
            wal.unlink(missing_ok=True)
            os.replace(incoming, database)
        except (sqlite3.Error, OSError) as exc:
            raise BackupError(f"restore into {database} failed: {exc}") from None
        finally:
            incoming.unlink(missing_ok=True)
        database.with_name(database.name + "-shm").unlink(missing_ok=True)
    return DatabaseFile(database, restored.size, restored.migrations), kept
