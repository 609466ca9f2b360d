"""`bans …`: keep an actor or a domain out of a group, or off the whole server."""

from __future__ import annotations

import argparse
from typing import Any

from fedgroup.cli.commands import EXIT_USAGE, CommandContext, CommandError, CommandRegistry
from fedgroup.cli.output import Reply, format_table
from fedgroup.service import bans, groups
from fedgroup.service.instance import open_fetcher
from fedgroup.storage.models import Ban, Group


def register(cli: CommandRegistry) -> None:
    noun = cli.noun("bans", help="ban actors or domains from a group or the whole server")
    add = noun.verb("add", add_command, help="ban an actor (handle/URL) or a domain")
    add.add_argument("group", nargs="?", help="the group (omit with --server)")
    add.add_argument(
        "who",
        nargs="?",
        help="@name@host handle or actor URL; a handle not seen yet is looked up by WebFinger",
    )
    add.add_argument(
        "--domain",
        help="ban a domain and its subdomains (bad.example, https://bad.example/, *.bad.example)",
    )
    add.add_argument("--server", action="store_true", help="ban from every group on the server")
    add.add_argument("--reason", default="", help="shown to moderators, sent with the Block")
    add.add_argument(
        "--days", type=_days, default=None, metavar="N", help="the ban ends after N days"
    )
    add.add_argument(
        "--purge",
        action="store_true",
        help="also remove every post they made in the group; members' servers are told",
    )
    remove = noun.verb("remove", remove_command, help="lift a ban")
    remove.add_argument("group", nargs="?", help="the group (omit with --server)")
    remove.add_argument("who", help="handle, actor URL or domain")
    remove.add_argument("--server", action="store_true", help="a server-wide ban")
    listing = noun.verb("list", list_command, help="list the bans of a group or the server")
    listing.add_argument("group", nargs="?", help="the group (omit with --server)")
    listing.add_argument("--server", action="store_true", help="server-wide bans")


def _days(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of days above 0, got {text!r}")
    return int(text)


async def _scope(args: argparse.Namespace) -> Group | None:
    if args.server:
        if args.group is not None and getattr(args, "who", None) is None:
            # `bans add --server WHO`: the positional that looked like a group is the target.
            args.who, args.group = args.group, None
        elif args.group is not None:
            raise CommandError("give either a group or --server, not both", exit_code=EXIT_USAGE)
        return None
    if args.group is None:
        raise CommandError("name a group, or use --server", exit_code=EXIT_USAGE)
    return await groups.get_group(args.group)


def ban_document(ban: Ban) -> dict[str, Any]:
    return {
        "actor": ban.actor_url,
        "domain": ban.domain,
        "reason": ban.reason,
        "since": ban.created_at,
        "expires": ban.expires_at,
    }


async def add_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    if args.server and args.domain is not None and args.group is not None:
        raise CommandError("give either a group or --server, not both", exit_code=EXIT_USAGE)
    group = await _scope(args)
    if args.domain is not None:
        if args.who is not None:
            raise CommandError("give an actor or --domain, not both", exit_code=EXIT_USAGE)
        if args.purge:
            raise CommandError(
                "--purge removes one actor's posts; name the actor", exit_code=EXIT_USAGE
            )
        ban = await bans.ban_domain(group, args.domain, args.reason, days=args.days)
    elif args.who is None:
        raise CommandError("name an actor to ban, or --domain DOMAIN", exit_code=EXIT_USAGE)
    else:
        async with open_fetcher(ctx.settings) as fetcher:
            ban = await bans.ban_actor(
                ctx.settings,
                group,
                args.who,
                args.reason,
                fetcher=fetcher,
                days=args.days,
                purge=args.purge,
            )
    where = group.name if group is not None else "the server"
    banned = ban.actor_url or f"{ban.domain} and its subdomains"
    until = f" until {ban.expires_at:%Y-%m-%d %H:%M} UTC" if ban.expires_at else ""
    return Reply(ban_document(ban), f"banned {banned} from {where}{until}")


async def remove_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    if args.server and args.group is not None:
        raise CommandError("give either a group or --server, not both", exit_code=EXIT_USAGE)
    group = None if args.server else await _scope(args)
    await bans.unban(group, args.who)
    return Reply({"unbanned": args.who}, f"lifted the ban on {args.who}")


async def list_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await _scope(args)
    docs = [ban_document(b) for b in await bans.list_bans(group)]
    if not docs:
        return Reply(docs, "no bans")
    rows = [
        [d["actor"] or d["domain"], d["reason"] or "-", d["since"], d["expires"] or "never"]
        for d in docs
    ]
    return Reply(docs, format_table(["BANNED", "REASON", "SINCE", "EXPIRES"], rows))
