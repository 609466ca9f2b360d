"""Entry point of the admin CLI: parse, load settings, open the database, run, print.

Every failure an operator can cause or meet (a typo in a group name, a bad setting, a
database that cannot be opened, a mistyped command line) ends as one line on stderr and a
non-zero exit code; a traceback would bury the one thing they need to read. With --json that
line is one JSON object, `{"error": "...", "exit_status": N}`, so a script reads failures
the way it reads results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from types import ModuleType
from typing import TextIO

from tortoise.exceptions import DBConnectionError, OperationalError

from fedgroup import __version__
from fedgroup.cli import (
    bans,
    deliveries,
    groups,
    held,
    members,
    modlog,
    mods,
    operations,
    policy,
    posts,
    reports,
)
from fedgroup.cli.commands import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
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
NOUNS: tuple[ModuleType, ...] = (
    groups,
    members,
    mods,
    bans,
    policy,
    posts,
    held,
    reports,
    modlog,
    deliveries,
    operations,
)

EPILOG = """\
exit status: 0 done, 1 refused (unknown group, duplicate, bad value), 2 bad command line,
69 database unavailable, 78 bad setting, 130 interrupted.
settings come from FEDGROUP_* environment variables, --config FILE, and the flags above."""


class UsageError(Exception):
    """The command line cannot be parsed; the message says what and where to look."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (with where to read the usage)
    instead of printing the usage block and exiting on its own."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=prog,
        description="Administer the groups of a fedgroup server.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[global_options(as_defaults=True)],
    )
    parser.add_argument("--version", action="version", version=f"fedgroup {__version__}")
    nouns = parser.add_subparsers(title="nouns", dest="noun", metavar="NOUN", required=True)
    registry = CommandRegistry(nouns)
    for module in NOUNS:
        module.register(registry)
    return parser


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run one admin command; returns the exit status (also for argparse's own exits)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return report_failure(sys.stderr, str(exc), EXIT_USAGE, as_json="--json" in argv)
    except SystemExit as exc:  # --help and --version, printed by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    return run(args, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr)


def report_failure(stderr: TextIO, message: str, code: int, *, as_json: bool) -> int:
    """Print the one line a failure gets (a JSON object with --json); return `code`."""
    if as_json:
        line = json.dumps({"error": message, "exit_status": code}, ensure_ascii=False)
    else:
        line = f"error: {message}"
    stderr.write(line + "\n")
    stderr.flush()
    return code


def run(args: argparse.Namespace, *, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """Run parsed arguments, turning every failure into one line on `stderr`."""

    def fail(message: str, code: int) -> int:
        return report_failure(stderr, message, code, as_json=args.json)

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
