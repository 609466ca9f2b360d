"""`backup`, `restore` and `stats`: looking after the server itself rather than its groups."""

from __future__ import annotations

import argparse
import asyncio
import pkgutil
from pathlib import Path
from typing import Any

from fedgroup.cli.commands import CommandContext, CommandError, CommandRegistry
from fedgroup.cli.output import Reply, format_fields
from fedgroup.service.housekeeping import prune
from fedgroup.service.stats import server_stats
from fedgroup.storage import migrations
from fedgroup.storage.backup import BackupError, backup_sqlite, restore_sqlite
from fedgroup.storage.db import redact_database_url, sqlite_file

POSTGRES_HINT = "back up and restore PostgreSQL with pg_dump and pg_restore (README, Operations)"


def register(cli: CommandRegistry) -> None:
    backup = cli.command(
        "backup",
        backup_command,
        help="write a consistent copy of the SQLite database to FILE, also while serving",
        description=(
            "Write a consistent copy of the SQLite database to FILE while the server goes on "
            "working: everything committed before the backup began is in it. FILE must not "
            "exist. For PostgreSQL use pg_dump."
        ),
        needs_database=False,
    )
    backup.add_argument("file", metavar="FILE", type=Path)
    restore = cli.command(
        "restore",
        restore_command,
        help="put a backup in place of the SQLite database (the server must be stopped)",
        description=(
            "Replace the SQLite database with the backup FILE. Refused while a server or "
            "another command has the database open, and for a file that is not a sound "
            "fedgroup database. The replaced database is kept beside it as "
            "NAME.replaced-TIMESTAMP. Start the server afterwards: it brings the schema up "
            "to date."
        ),
        needs_database=False,
    )
    restore.add_argument("file", metavar="FILE", type=Path)
    cli.command(
        "prune",
        prune_command,
        help="remove old activities, sent deliveries and cached remote actors now",
        description=(
            "Run one pruning pass now, as the server does every prune_interval seconds: "
            "remove activities, sent deliveries and cached remote actors older than the "
            "prune_*_after settings, keeping what the groups' outboxes and threads need."
        ),
    )
    cli.command(
        "stats",
        stats_command,
        help="groups, members, remote servers, queues, database size and traffic",
    )


def _sqlite_path(ctx: CommandContext) -> Path:
    path = sqlite_file(ctx.settings.database_url)
    if path is None:
        shown = redact_database_url(ctx.settings.database_url)
        raise CommandError(f"{shown} is not a SQLite file: {POSTGRES_HINT}")
    return path


def known_migrations() -> frozenset[str]:
    """The migrations this version of fedgroup ships."""
    return frozenset(info.name for info in pkgutil.iter_modules(migrations.__path__))


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


async def backup_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    database = _sqlite_path(ctx)
    try:
        copy = await asyncio.to_thread(backup_sqlite, database, args.file)
    except BackupError as exc:
        raise CommandError(str(exc)) from None
    schema = copy.migrations[-1] if copy.migrations else None
    return Reply(
        {"backup": str(copy.path), "database": str(database), "bytes": copy.size,
         "schema": schema},
        f"backed up {database} to {copy.path} ({_size(copy.size)}, schema {schema})",
    )  # fmt: skip


async def restore_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    database = _sqlite_path(ctx)
    try:
        restored, kept = await asyncio.to_thread(
            restore_sqlite, args.file, database, known_migrations=known_migrations()
        )
    except BackupError as exc:
        raise CommandError(str(exc)) from None
    schema = restored.migrations[-1] if restored.migrations else None
    text = f"restored {args.file} into {database} (schema {schema})"
    if kept is not None:
        text += f"; the database it replaced is kept as {kept}"
    return Reply(
        {"restored": str(args.file), "database": str(database), "schema": schema,
         "replaced_kept_as": str(kept) if kept else None},
        text + "\nstart the server: it applies any migrations the backup predates",
    )  # fmt: skip


def _queue_text(queue: dict[str, Any]) -> str:
    if not queue["depth"]:
        return "empty"
    return f"{queue['depth']} (oldest {queue['oldest_age_seconds']:.0f}s old)"


async def stats_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    stats = await server_stats(ctx.settings.database_url)
    members, instances = stats["members"], stats["instances"]
    queues, rates = stats["queues"], stats["activities"]
    text = format_fields(
        [
            ("groups", stats["groups"]),
            ("members", f"{members['accepted']} ({members['pending']} pending, "
                        f"{members['distinct_accounts']} accounts)"),
            ("posts", stats["posts"]),
            ("instances", f"{instances['known']} known: {instances['reachable']} reachable, "
                          f"{instances['failing']} failing, {instances['dead']} dead"),
            ("inbound queue", _queue_text(queues["inbound"])),
            ("outbound queue", _queue_text(queues["outbound"])),
            ("given up", f"{queues['outbound_failed']} deliveries"),
            ("database", _size(stats["database"]["bytes"])),
            ("activities in", f"{rates['in']['last_hour']} last hour, "
                              f"{rates['in']['per_hour_24h']}/h over 24h"),
            ("activities out", f"{rates['out']['last_hour']} last hour, "
                               f"{rates['out']['per_hour_24h']}/h over 24h, "
                               f"{rates['deliveries_last_hour']} deliveries last hour"),
        ]
    )  # fmt: skip
    return Reply(stats, text)


async def prune_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    pruned = await prune(ctx.settings)
    counts = pruned.as_dict()
    if not pruned.total:
        return Reply(counts, "nothing to prune")
    return Reply(
        counts,
        "pruned " + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items()),
    )
