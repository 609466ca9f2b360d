"""Opening the database and bringing its schema up to date.

The schema is versioned by tortoise's migration framework: every model change ships a
migration module in `fedgroup/storage/migrations/`, and `open_database` applies whatever a
database has not seen yet, so an operator upgrading fedgroup never loses rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.migrations.api.migrate import migrate

APP_LABEL = "models"
MODELS_MODULE = "fedgroup.storage.models"
MIGRATIONS_MODULE = "fedgroup.storage.migrations"


def _with_sqlite_pragmas(url: str) -> str:
    """Let the CLI and the server share one SQLite file: wait for locks instead of failing."""
    if not url.startswith("sqlite://") or url == "sqlite://:memory:":
        return url
    if "busy_timeout" in url:
        return url
    return url + ("&" if "?" in url else "?") + "busy_timeout=10000"


def ensure_sqlite_directory(url: str) -> None:
    """Create the directory of a SQLite file so a fresh checkout starts without setup."""
    if url.startswith("sqlite://") and url != "sqlite://:memory:":
        path = url[len("sqlite://") :].split("?", 1)[0]
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The tortoise configuration for our single app."""
    return {
        "connections": {"default": _with_sqlite_pragmas(database_url)},
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


async def open_database(database_url: str, *, run_migrations: bool = True) -> None:
    """Connect, apply pending migrations, and leave tortoise ready for queries."""
    ensure_sqlite_directory(database_url)
    # Tortoise caches statements per connection name in the dialect it first saw; a process
    # that opens SQLite and then PostgreSQL (tests, migration tools) must not reuse them.
    EXECUTOR_CACHE.clear()
    config = tortoise_config(database_url)
    if run_migrations:
        await migrate(config=config)
        await Tortoise.close_connections()
    await Tortoise.init(config=config)


async def close_database() -> None:
    """Close every connection tortoise holds."""
    await Tortoise.close_connections()
