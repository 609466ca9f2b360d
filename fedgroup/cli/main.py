"""Entry point of the admin CLI: parse, load settings, open the database, run, print.

Every failure an operator can cause or meet (a typo in a group name, a bad setting, a
database that cannot be opened) ends as one line on stderr and a non-zero exit code; a
traceback would bury the one thing they need to read.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from types import ModuleType
from typing import TextIO

from tortoise.exceptions import DBConnectionError, OperationalError

from fedgroup.cli import bans, deliveries, groups, members
from fedgroup.cli.commands import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    CommandContext,
    CommandError,
    CommandRegistry,
    global_options,
)
from fedgroup.cli.output import write_reply
from fedgroup.config import ConfigError, load_settings
from fedgroup.service.errors import ServiceError
from fedgroup.storage.db import DatabaseUnavailable, close_database, open_database

#: Noun modules, each with `register(cli: CommandRegistry)`. Add a noun by adding its module.
NOUNS: tuple[ModuleType, ...] = (groups, members, bans, deliveries)

EPILOG = """\
exit status: 0 done, 1 refused (unknown group, duplicate, bad value), 2 bad command line,
69 database unavailable, 78 bad setting, 130 interrupted.
settings come from FEDGROUP_* environment variables, --config FILE, and the flags above."""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Administer the groups of a fedgroup server.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[global_options(as_defaults=True)],
    )
    nouns = parser.add_subparsers(title="nouns", dest="noun", metavar="NOUN", required=True)
    registry = CommandRegistry(nouns)
    for module in NOUNS:
        module.register(registry)
    return parser


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run one admin command; returns the exit status (also for argparse's own exits)."""
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already printed
        return exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    return run(args, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr)


def run(args: argparse.Namespace, *, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """Run parsed arguments, turning every failure into one line on `stderr`."""

    def fail(message: str, code: int) -> int:
        stderr.write(f"error: {message}\n")
        stderr.flush()
        return code

    try:
        settings = load_settings(
            config_file=args.config, overrides={"database_url": args.database_url}
        )
    except ConfigError as exc:
        return fail(str(exc), EXIT_CONFIG)
    ctx = CommandContext(settings=settings, stdin=stdin, stderr=stderr)
    try:
        reply = asyncio.run(_execute(args, ctx))
        write_reply(reply, stdout, as_json=args.json)
    except (ServiceError, ConfigError) as exc:
        return fail(str(exc), EXIT_FAILURE)
    except CommandError as exc:
        return fail(str(exc), exc.exit_code)
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_UNAVAILABLE)
    except (OperationalError, DBConnectionError) as exc:
        return fail(f"database error: {_one_line(exc)}", EXIT_UNAVAILABLE)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:  # `… | head`: the reader left, nothing to tell it
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback
        return fail(f"unexpected {type(exc).__name__}: {_one_line(exc)}", EXIT_FAILURE)
    return EXIT_OK


async def _execute(args: argparse.Namespace, ctx: CommandContext):
    if not args.needs_database:
        return await args.handler(args, ctx)
    await open_database(ctx.settings.database_url)
    try:
        return await args.handler(args, ctx)
    finally:
        await close_database()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
