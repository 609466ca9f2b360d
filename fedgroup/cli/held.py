"""`held …`: posts kept back for a moderator (from limited domains), let through or refused."""

from __future__ import annotations

import argparse
from typing import Any

from fedgroup.cli.commands import CommandContext, CommandRegistry
from fedgroup.cli.output import Reply, format_table
from fedgroup.service import groups, held
from fedgroup.service.instance import open_fetcher
from fedgroup.storage.models import HeldPost


def register(cli: CommandRegistry) -> None:
    noun = cli.noun("held", help="posts held for a moderator: list, approve, reject")
    listing = noun.verb("list", list_command, help="posts waiting for a decision")
    listing.add_argument("group", nargs="?", help="one group (default: every group)")
    approve = noun.verb(
        "approve", approve_command, help="let a held post through: it is announced to members"
    )
    approve.add_argument("group")
    approve.add_argument("post", help="the number `held list` shows, or the post's URL")
    reject = noun.verb("reject", reject_command, help="refuse a held post: nothing is announced")
    reject.add_argument("group")
    reject.add_argument("post", help="the number `held list` shows, or the post's URL")
    reject.add_argument("--reason", default="", help="kept in the moderation log")


def held_document(row: HeldPost) -> dict[str, Any]:
    content = row.object.get("content") if isinstance(row.object, dict) else None
    return {
        "id": row.id,
        "group": row.group.name,
        "post": row.object_id,
        "author": row.actor_url,
        "reason": row.reason,
        "content": content if isinstance(content, str) else "",
        "state": str(row.state),
        "since": row.created_at,
    }


async def list_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group) if args.group is not None else None
    docs = [held_document(h) for h in await held.list_held(group)]
    if not docs:
        return Reply(docs, "no posts are held")
    rows = [[d["id"], d["group"], d["author"], d["post"], d["reason"] or "-"] for d in docs]
    return Reply(docs, format_table(["#", "GROUP", "AUTHOR", "POST", "WHY HELD"], rows))


async def approve_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group)
    async with open_fetcher(ctx.settings) as fetcher:
        post = await held.approve_held(ctx.settings, fetcher, group, args.post)
    return Reply(
        {"approved": post.ap_id, "group": group.name},
        f"approved {post.ap_id}: announced to the members of {group.name}",
    )


async def reject_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group)
    row = await held.reject_held(group, args.post, reason=args.reason)
    return Reply({"rejected": row.object_id, "group": group.name}, f"rejected {row.object_id}")
