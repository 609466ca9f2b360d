"""How a noun plugs into the admin CLI: register verbs, receive a context, return a Reply.

A noun module (`groups.py`, later `members.py`, `bans.py`…) has one function,
`register(cli: CommandRegistry) -> None`, and is listed in `main.NOUNS`. Each verb is an
async handler `(args, ctx) -> Reply`; it raises a `ServiceError` or a `CommandError` to fail
with one line. `main` owns parsing, settings, the database and printing, so handlers stay
small and every command behaves the same (`--json`, exit codes, no tracebacks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

from fedgroup.cli.output import Reply
from fedgroup.config import Settings

EXIT_OK = 0
EXIT_FAILURE = 1  # the operation was refused: unknown group, duplicate, bad value…
EXIT_USAGE = 2  # the command line itself is wrong (argparse uses 2 as well)
EXIT_UNAVAILABLE = 69  # the database cannot be opened or answered with an error (sysexits)
EXIT_CONFIG = 78  # a setting has an unusable value (sysexits EX_CONFIG)
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A command refuses to go on; the message is the one line the operator sees."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class CommandContext:
    """What a handler may use besides its arguments: settings and the terminal."""

    settings: Settings
    stdin: TextIO
    stderr: TextIO

    async def confirm_by_typing(self, expected: str, *, prompt: str, refusal: str) -> None:
        """Make a person at a terminal type `expected`; raise CommandError otherwise.

        Without a terminal nobody can answer, so we refuse with `refusal` (which should say
        how to proceed non-interactively) rather than guess.
        """
        if not self.stdin.isatty():
            raise CommandError(refusal)
        self.stderr.write(prompt)
        self.stderr.flush()
        try:
            answer = await read_line(self.stdin)
        except asyncio.CancelledError:  # Ctrl-C: end the prompt's line before the error's
            self.stderr.write("\n")
            self.stderr.flush()
            raise
        if answer.strip() != expected:
            raise CommandError("not confirmed; nothing was changed")


async def read_line(stream: TextIO) -> str:
    """A line from a terminal, waited for without blocking the event loop.

    A blocking readline inside the loop cannot be interrupted: asyncio turns Ctrl-C into a
    cancellation the loop never gets to deliver, so the command would hang. Waiting for the
    descriptor to be readable lets Ctrl-C cancel the wait at once.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return stream.readline()  # an in-memory stream has its answer already
    loop = asyncio.get_running_loop()
    readable = loop.create_future()

    def wake() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(fd, wake)
    try:
        with _ctrl_c_wakes_the_loop(loop):
            await readable
    finally:
        loop.remove_reader(fd)
    return stream.readline()


@contextlib.contextmanager
def _ctrl_c_wakes_the_loop(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """While the loop waits for a person, Ctrl-C is handled through the loop itself.

    asyncio.run's own SIGINT handler runs only when the main thread runs Python; a signal
    the kernel hands to another thread (the database's, idle) sets a flag and nothing wakes
    the main thread from its wait: the prompt then ignored Ctrl-C for good. A handler added
    to the loop also wakes it (a byte on its self-pipe), whichever thread got the signal;
    it calls the handler that was there, so the interruption is reported as before."""
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous) or threading.current_thread() is not threading.main_thread():
        yield
        return
    loop.add_signal_handler(signal.SIGINT, previous, signal.SIGINT, None)
    # A parent that blocked SIGINT (a supervisor driving us over pipes) would keep Ctrl-C
    # pending for ever: a person at a terminal means it to arrive.
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, previous)


Handler = Callable[[argparse.Namespace, CommandContext], Awaitable[Reply]]


def global_options(*, as_defaults: bool) -> argparse.ArgumentParser:
    """--config, --database-url and --json, accepted before the noun and after the verb.

    Verb parsers get them with SUPPRESS defaults, so that not repeating an option after the
    verb keeps the value given before the noun.
    """
    parser = argparse.ArgumentParser(add_help=False)

    def default(value: object) -> object:
        return value if as_defaults else argparse.SUPPRESS

    parser.add_argument(
        "--config",
        metavar="FILE",
        default=default(None),
        help="TOML settings file (environment variables and flags win over it)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        default=default(None),
        help="database to use, e.g. sqlite://./data/fedgroup.sqlite3 (wins over settings)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print one JSON document on stdout",
    )
    return parser


def _runnable(
    subparsers: argparse._SubParsersAction,
    name: str,
    handler: Handler,
    help: str,
    description: str | None,
    needs_database: bool,
) -> argparse.ArgumentParser:
    """A parser that runs `handler`: a verb of a noun, or a noun that takes no verb. Both
    accept the global options after the command, as admins type them."""
    parser = subparsers.add_parser(
        name,
        help=help,
        description=description or help,
        parents=[global_options(as_defaults=False)],
    )
    parser.set_defaults(handler=handler, needs_database=needs_database)
    return parser


class Noun:
    """The verbs of one noun, e.g. `group create`, `group list`."""

    def __init__(self, verbs: argparse._SubParsersAction) -> None:
        self._verbs = verbs

    def verb(
        self,
        name: str,
        handler: Handler,
        *,
        help: str,
        description: str | None = None,
        needs_database: bool = True,
    ) -> argparse.ArgumentParser:
        """Add a verb; returns its parser for the verb's own arguments."""
        return _runnable(self._verbs, name, handler, help, description, needs_database)


class CommandRegistry:
    """Where noun modules add themselves to the top-level parser."""

    def __init__(self, nouns: argparse._SubParsersAction) -> None:
        self._nouns = nouns

    def command(
        self,
        name: str,
        handler: Handler,
        *,
        help: str,
        description: str | None = None,
        needs_database: bool = True,
    ) -> argparse.ArgumentParser:
        """A noun that is a command by itself, with no verbs (`modlog [GROUP]`, `backup FILE`)."""
        return _runnable(self._nouns, name, handler, help, description, needs_database)

    def noun(self, name: str, *, help: str) -> Noun:
        parser = self._nouns.add_parser(name, help=help, description=help)
        verbs = parser.add_subparsers(title="verbs", dest="verb", metavar="VERB", required=True)
        return Noun(verbs)
