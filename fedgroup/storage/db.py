"""Opening the database and bringing its schema up to date.

The schema is versioned by tortoise's migration framework: every model change ships a
migration module in `fedgroup/storage/migrations/`, and `open_database` applies whatever a
database has not seen yet, so an operator upgrading fedgroup never loses rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.migrations.api.migrate import migrate

from .. import caching
from . import sqlite_engine

APP_LABEL = "models"
MODELS_MODULE = "fedgroup.storage.models"
MIGRATIONS_MODULE = "fedgroup.storage.migrations"


def _with_sqlite_pragmas(url: str, *, durable_commits: bool = True) -> str:
    """Let the CLI and the server share one SQLite file: wait for locks instead of failing.

    Without `durable_commits`, commits on this connection do not wait for the disk
    (`synchronous=NORMAL`): see `open_database`."""
    if not url.startswith("sqlite://") or url == "sqlite://:memory:":
        return url
    pragmas = []
    if "busy_timeout" not in url:
        pragmas.append("busy_timeout=10000")
    if not durable_commits and "synchronous" not in url:
        pragmas.append("synchronous=NORMAL")
    if not pragmas:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(pragmas)


#: The directory of the default database (`sqlite://./data/fedgroup.sqlite3`), relative to
#: the working directory: the one directory fedgroup creates, so a fresh checkout serves
#: without setup. Any other SQLite file is created only in a directory that exists, so a
#: mistyped path is an error instead of a new, empty database somewhere unexpected.
DEFAULT_DATA_DIRECTORY = Path("data")


class DatabaseUnavailable(Exception):
    """The database cannot be opened; the message names it (password masked) and says why,
    in one line fit for an operator."""


def redact_database_url(url: str) -> str:
    """The URL with its password replaced, fit for an error message or a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def sqlite_file(url: str) -> Path | None:
    """The file a `sqlite://PATH` URL names; None for other databases and `:memory:`."""
    if not url.startswith("sqlite://"):
        return None
    path = url[len("sqlite://") :].split("?", 1)[0]
    return None if path.startswith(":memory:") else Path(path).expanduser()


def prepare_sqlite_file(url: str) -> None:
    """Check that a SQLite URL's file can be opened and written, creating the file (and the
    default data directory, nothing else) if needed; raise DatabaseUnavailable saying why not.

    Done before tortoise sees the URL: when its first connection fails, tortoise keeps the
    connection lock and the next query waits for it forever (a server that never listens, an
    admin command that never returns), so every failure we can foresee is found here.
    """
    path = sqlite_file(url)
    if path is None:
        return
    shown = redact_database_url(url)

    def refuse(reason: str) -> DatabaseUnavailable:
        return DatabaseUnavailable(f"cannot open database {shown}: {reason}")

    directory = path.parent
    try:
        if path.is_dir():
            raise refuse("it is a directory")
        if not directory.exists():
            if directory.absolute() != DEFAULT_DATA_DIRECTORY.absolute():
                raise refuse(
                    f"directory {directory} does not exist (fedgroup creates the database "
                    "file, not its directory)"
                )
            directory.mkdir()
        elif not directory.is_dir():
            raise refuse(f"{directory} is not a directory")
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        elif not os.access(path, os.R_OK | os.W_OK):
            raise refuse(f"{path} is not writable")
        if not os.access(directory, os.W_OK | os.X_OK):
            # SQLite keeps its -wal and -shm files beside the database.
            raise refuse(f"directory {directory} is not writable")
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:  # a path under a regular file
            raise refuse(f"a part of {directory} is a file, not a directory") from None
        raise refuse(exc.strerror or str(exc)) from None
    try:
        connection = sqlite3.connect(path, timeout=10)
        try:
            connection.execute("PRAGMA journal_mode=WAL").fetchone()
            connection.execute("PRAGMA schema_version").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise refuse(f"{path}: {exc}") from None


def _connection_config(database_url: str, *, durable_commits: bool = True) -> str | dict[str, Any]:
    """PostgreSQL as its URL; SQLite through our engine (sqlite_engine: transactions that
    take the write lock when they begin, so several processes can share the file)."""
    url = _with_sqlite_pragmas(database_url, durable_commits=durable_commits)
    if not url.startswith("sqlite://"):
        return url
    expanded = expand_db_url(url)
    if not durable_commits:
        # No commit waits for the disk, so statements can run on the event loop (see
        # sqlite_engine): the worker's dozen small statements per post no longer queue.
        expanded["credentials"]["run_on_loop"] = True
    return {**expanded, "engine": sqlite_engine.ENGINE}


def tortoise_config(database_url: str, *, durable_commits: bool = True) -> dict[str, Any]:
    """The tortoise configuration for our single app."""
    return {
        "connections": {
            "default": _connection_config(database_url, durable_commits=durable_commits)
        },
        "apps": {
            APP_LABEL: {
                "models": [MODELS_MODULE],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def open_database(
    database_url: str, *, run_migrations: bool = True, durable_commits: bool = True
) -> None:
    """Connect, apply pending migrations, and leave tortoise ready for queries.

    `durable_commits=False` is for the worker process on SQLite: its commits return before
    the disk flush (WAL, `synchronous=NORMAL`). Everything it writes can be redone (a
    handler's outcome, a delivery marked sent), and a power cut loses only a suffix of the
    log: a lost commit takes every later one with it, so an inbound row never looks handled
    while its effects are gone. Whatever acknowledges something to the outside (the inbox's
    202, the admin CLI, the web forms) keeps `synchronous=FULL`, and its flush makes every
    earlier commit durable too. A crash of the process alone loses nothing either way.

    Any failure (a SQLite file that cannot be opened, PostgreSQL down or refusing us, a
    migration that fails) closes what was opened and raises DatabaseUnavailable, whose
    one-line message names the database with its password masked.
    """
    await asyncio.to_thread(prepare_sqlite_file, database_url)
    # Tortoise caches statements per connection name in the dialect it first saw; a process
    # that opens SQLite and then PostgreSQL (tests, migration tools) must not reuse them.
    EXECUTOR_CACHE.clear()
    # Nothing read from another database may be believed about this one.
    caching.clear_all()
    config = tortoise_config(database_url, durable_commits=durable_commits)
    try:
        if run_migrations:
            await migrate(config=config)
            await Tortoise.close_connections()
        await Tortoise.init(config=config)
    except BaseException as exc:
        # Half-open connections keep threads (aiosqlite) that would keep the process alive,
        # also when the opening was cancelled (a signal during start-up).
        with contextlib.suppress(Exception):
            await Tortoise.close_connections()
        if not isinstance(exc, Exception):
            raise
        shown = redact_database_url(database_url)
        raise DatabaseUnavailable(f"cannot open database {shown}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """One line saying why, without the traceback's noise."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__


async def close_database() -> None:
    """Close every connection tortoise holds."""
    await Tortoise.close_connections()
