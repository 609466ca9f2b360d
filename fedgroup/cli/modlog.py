"""`modlog`: what moderators and admins decided, newest first."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from fedgroup.cli.commands import CommandContext, CommandRegistry
from fedgroup.cli.output import Reply, format_table
from fedgroup.service import groups, modlog
from fedgroup.service.modlog import LoggedDecision


def register(cli: CommandRegistry) -> None:
    show = cli.command(
        "modlog", show_command, help="the moderation log: who decided what, on what, why, when"
    )
    show.add_argument("group", nargs="?", help="one group's decisions (default: all of them)")
    show.add_argument("--limit", type=_positive, default=100, help="newest N entries (default 100)")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text!r}")
    return int(text)


def entry_document(entry: LoggedDecision) -> dict[str, Any]:
    return asdict(entry)


async def show_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group) if args.group is not None else None
    found = await modlog.entries(group, limit=args.limit)
    docs = [entry_document(e) for e in found]
    if not docs:
        return Reply(docs, "the moderation log is empty")
    rows = [
        [e.at, e.group or "(server)", e.moderator, e.action, e.target or "-", e.reason or "-"]
        for e in found
    ]
    return Reply(docs, format_table(["WHEN", "GROUP", "BY", "ACTION", "TARGET", "REASON"], rows))
