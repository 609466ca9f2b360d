"""`posts …`: a moderator's decisions on one post of a group."""

from __future__ import annotations

import argparse

from fedgroup.cli.commands import CommandContext, CommandRegistry
from fedgroup.cli.output import Reply
from fedgroup.service import groups, moderation

VERBS = (
    ("remove", "take a post out of the group (restorable); members' servers are told"),
    ("restore", "put a removed post back"),
    ("pin", "pin a post to the group's featured collection"),
    ("unpin", "unpin a post"),
    ("lock", "lock a post: no more replies to it or under it"),
    ("unlock", "unlock a post"),
)


def register(cli: CommandRegistry) -> None:
    noun = cli.noun("posts", help="remove, restore, pin, unpin, lock or unlock a group's post")
    for verb, text in VERBS:
        parser = noun.verb(verb, post_command, help=text)
        parser.set_defaults(action=verb)
        parser.add_argument("group")
        parser.add_argument("url", help="the post's id (its URL on its author's server)")
        parser.add_argument("--reason", default="", help="kept in the moderation log and sent")


async def post_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await groups.get_group(args.group)
    post = await moderation.find_post(group, args.url)
    settings, reason = ctx.settings, args.reason
    match args.action:
        case "remove":
            await moderation.remove_post(settings, group, post, reason=reason)
        case "restore":
            await moderation.restore_post(settings, group, post, reason=reason)
        case "pin" | "unpin":
            await moderation.set_pinned(settings, group, post, args.action == "pin", reason=reason)
        case _:
            await moderation.set_locked(settings, group, post, args.action == "lock", reason=reason)
    done = {"remove": "removed", "restore": "restored", "pin": "pinned", "unpin": "unpinned"}
    word = done.get(args.action, args.action + "ed")
    return Reply(
        {"post": post.ap_id, "group": group.name, "action": args.action},
        f"{word} {post.ap_id} in {group.name}",
    )
