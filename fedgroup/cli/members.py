"""`members …`: who is in a group, and the admin's decisions on who may join."""

from __future__ import annotations

import argparse
from typing import Any

from fedgroup.cli.commands import CommandContext, CommandRegistry
from fedgroup.cli.output import Reply, format_table
from fedgroup.service import groups, membership
from fedgroup.storage.models import Membership


def register(cli: CommandRegistry) -> None:
    noun = cli.noun("members", help="list members, approve or reject requests, remove members")
    listing = noun.verb("list", list_command, help="list a group's members or pending requests")
    listing.add_argument("group")
    listing.add_argument("--pending", action="store_true", help="requests awaiting approval")
    for verb, handler, text in (
        ("approve", approve_command, "accept a pending request (the member's server is told)"),
        ("reject", reject_command, "refuse a pending request (the requester's server is told)"),
        ("remove", remove_command, "remove a member (their server gets Reject{Follow})"),
    ):
        parser = noun.verb(verb, handler, help=text)
        parser.add_argument("group")
        parser.add_argument("who", help="@name@host handle or actor URL")


def member_document(row: Membership) -> dict[str, Any]:
    actor = row.actor
    handle = f"@{actor.preferred_username}@{actor.host}" if actor.preferred_username else None
    return {
        "actor": actor.url,
        "handle": handle,
        "state": str(row.state),
        "since": row.created_at,
    }


async def list_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group)
    docs = [member_document(m) for m in await membership.members(group, pending=args.pending)]
    if not docs:
        what = "pending requests" if args.pending else "members"
        return Reply(docs, f"{group.name} has no {what}")
    rows = [[d["handle"] or "-", d["actor"], d["since"]] for d in docs]
    return Reply(docs, format_table(["HANDLE", "ACTOR", "SINCE"], rows))


async def approve_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group)
    row = await membership.approve(ctx.settings, group, args.who)
    doc = member_document(row)
    return Reply(doc, f"approved {doc['handle'] or doc['actor']} in {group.name}")


async def reject_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group)
    await membership.reject(ctx.settings, group, args.who)
    return Reply({"rejected": args.who, "group": group.name}, f"rejected {args.who}")


async def remove_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group)
    await membership.remove(ctx.settings, group, args.who)
    return Reply({"removed": args.who, "group": group.name}, f"removed {args.who}")
