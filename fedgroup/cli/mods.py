"""`mods …`: name and remove a group's moderators (fediverse actors)."""

from __future__ import annotations

import argparse
from typing import Any

from fedgroup.cli.commands import CommandContext, CommandRegistry
from fedgroup.cli.output import Reply, format_table
from fedgroup.service import groups, moderators
from fedgroup.service.instance import open_fetcher
from fedgroup.storage.models import Moderator, RemoteActor


def register(cli: CommandRegistry) -> None:
    noun = cli.noun("mods", help="a group's moderators: add, remove, list")
    add = noun.verb(
        "add", add_command, help="name a moderator (listed in the group's moderators collection)"
    )
    add.add_argument("group")
    add.add_argument("who", help="@name@host handle (looked up by WebFinger) or actor URL")
    remove = noun.verb("remove", remove_command, help="stop someone moderating the group")
    remove.add_argument("group")
    remove.add_argument("who", help="handle or actor URL, as `mods list` shows it")
    listing = noun.verb("list", list_command, help="the group's moderators")
    listing.add_argument("group")


async def moderator_document(row: Moderator) -> dict[str, Any]:
    actor = await RemoteActor.get_or_none(url=row.actor_url)
    handle = (
        f"@{actor.preferred_username}@{actor.host}"
        if actor is not None and actor.preferred_username
        else None
    )
    return {
        "actor": row.actor_url,
        "handle": handle,
        "added_by": row.added_by,
        "since": row.created_at,
    }


async def add_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group)
    async with open_fetcher(ctx.settings) as fetcher:
        row = await moderators.add_moderator(ctx.settings, fetcher, group, args.who)
    return Reply(await moderator_document(row), f"{row.actor_url} now moderates {group.name}")


async def remove_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group)
    actor_url = await moderators.remove_moderator(ctx.settings, group, args.who)
    return Reply(
        {"removed": actor_url, "group": group.name},
        f"{actor_url} no longer moderates {group.name}",
    )


async def list_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group)
    docs = [await moderator_document(m) for m in await moderators.list_moderators(group)]
    if not docs:
        return Reply(docs, f"{group.name} has no moderators")
    rows = [[d["handle"] or "-", d["actor"], d["since"]] for d in docs]
    return Reply(docs, format_table(["HANDLE", "ACTOR", "SINCE"], rows))
