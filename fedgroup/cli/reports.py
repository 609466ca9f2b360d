"""`reports …`: what members reported (Flags), and closing a report once dealt with."""

from __future__ import annotations

import argparse
from typing import Any

from fedgroup.cli.commands import CommandContext, CommandRegistry
from fedgroup.cli.output import Reply, format_table
from fedgroup.service import groups, reports
from fedgroup.service.instance import open_fetcher
from fedgroup.storage.models import Report


def register(cli: CommandRegistry) -> None:
    noun = cli.noun("reports", help="reports (Flags) about a group's posts and members")
    listing = noun.verb("list", list_command, help="open reports, oldest first")
    listing.add_argument("group", nargs="?", help="one group (default: every group)")
    listing.add_argument("--all", action="store_true", help="resolved ones too")
    resolve = noun.verb(
        "resolve", resolve_command, help="close a report (a Lemmy reporter's server is told)"
    )
    resolve.add_argument("group")
    resolve.add_argument("number", help="the number `reports list` shows")
    resolve.add_argument("--reason", default="", help="what was done, kept in the log")


def report_document(row: Report) -> dict[str, Any]:
    return {
        "id": row.id,
        "group": row.group.name,
        "reporter": row.reporter,
        "author": row.author,
        "objects": row.objects,
        "reason": row.reason,
        "forwarded": row.forwarded_at,
        "state": str(row.state),
        "resolved_by": row.resolved_by,
        "since": row.created_at,
    }


async def list_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group) if args.group is not None else None
    docs = [
        report_document(r) for r in await reports.list_reports(group, include_resolved=args.all)
    ]
    if not docs:
        return Reply(docs, "no reports" if args.all else "no open reports")
    rows = [
        [d["id"], d["group"], d["author"] or "-", ", ".join(d["objects"]), d["reason"] or "-"]
        for d in docs
    ]
    return Reply(docs, format_table(["#", "GROUP", "REPORTED", "OBJECTS", "REASON"], rows))


async def resolve_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group)
    async with open_fetcher(ctx.settings) as fetcher:
        row = await reports.resolve_report(
            ctx.settings, fetcher, group, args.number, reason=args.reason
        )
    row.group = group
    return Reply(report_document(row), f"resolved report {row.id} in {group.name}")
