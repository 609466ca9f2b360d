"""`group …`: create, list, show, edit and delete the groups this server hosts."""

from __future__ import annotations

import argparse
from typing import Any

from fedgroup.activitypub.actors import group_urls
from fedgroup.cli.commands import EXIT_USAGE, CommandContext, CommandError, CommandRegistry
from fedgroup.cli.output import Reply, format_fields, format_table
from fedgroup.config import Settings
from fedgroup.service import groups as service
from fedgroup.service import lifecycle
from fedgroup.service.media import load_image_file
from fedgroup.storage.models import Group, MembershipMode, Visibility


def register(cli: CommandRegistry) -> None:
    noun = cli.noun("group", help="create, list, show, edit and delete groups")

    create = noun.verb("create", create_command, help="create a group")
    create.add_argument("name", help="lowercase letters, digits and _, at most 64 characters")
    create.add_argument("--display-name", help="the title people see (default: the name)")
    create.add_argument("--summary", default="", help="what the group is about")
    create.add_argument("--rules", default="", help="the group's rules")
    create.add_argument(
        "--approval-required",
        action="store_true",
        help="moderators approve each new member",
    )
    create.add_argument(
        "--members-only",
        action="store_true",
        help="posts go to members only, never to the public",
    )
    create.add_argument(
        "--posting-restricted",
        action="store_true",
        help="only moderators may start threads",
    )
    create.add_argument(
        "--publish-members",
        action="store_true",
        help="show the member list to other servers (off by default: privacy)",
    )
    create.add_argument(
        "--allow-reuse",
        action="store_true",
        help="take the name of a group deleted at least group_name_reuse_after ago",
    )

    noun.verb("list", list_command, help="list every group with its member counts")

    show = noun.verb("show", show_command, help="show a group's settings and counts")
    show.add_argument("name")

    edit = noun.verb(
        "edit",
        edit_command,
        help="change a group's settings",
        description="Change the settings given; everything else stays as it is.",
    )
    edit.add_argument("name")
    edit.add_argument("--display-name")
    edit.add_argument("--summary")
    edit.add_argument("--rules")
    edit.add_argument(
        "--approval-required",
        action=argparse.BooleanOptionalAction,
        help="whether moderators approve each new member",
    )
    visibility = edit.add_mutually_exclusive_group()
    visibility.add_argument(
        "--members-only",
        dest="members_only",
        action="store_const",
        const=True,
        help="posts go to members only",
    )
    visibility.add_argument(
        "--public",
        dest="members_only",
        action="store_const",
        const=False,
        help="posts are public",
    )
    edit.add_argument(
        "--posting-restricted",
        action=argparse.BooleanOptionalAction,
        help="whether only moderators may start threads",
    )
    edit.add_argument(
        "--publish-members",
        action=argparse.BooleanOptionalAction,
        help="whether other servers may see the member list",
    )
    edit.add_argument(
        "--discoverable",
        action=argparse.BooleanOptionalAction,
        help="whether directories and search may list the group",
    )
    icon = edit.add_mutually_exclusive_group()
    icon.add_argument("--icon", metavar="PATH", help="PNG, JPEG, GIF or WebP avatar")
    icon.add_argument("--clear-icon", action="store_true", help="remove the avatar")
    image = edit.add_mutually_exclusive_group()
    image.add_argument("--image", metavar="PATH", help="PNG, JPEG, GIF or WebP header image")
    image.add_argument("--clear-image", action="store_true", help="remove the header image")

    delete = noun.verb(
        "delete",
        delete_command,
        help="delete a group with its members, posts and history",
        description=(
            "Delete a group with its members, posts and history. Every member's server is "
            "sent a Delete of the group; its address then answers 410 Gone and its name "
            "stays reserved (see group create --allow-reuse). On a terminal you are asked "
            "to type the group's name; --yes skips that (required without a terminal)."
        ),
    )
    delete.add_argument("name")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    rotate = noun.verb(
        "rotate-key",
        rotate_key_command,
        help="give a group a new key pair and tell members' servers",
        description=(
            "Replace the group's key pair (after a leak, or as routine) and send "
            "Update{Group} with the new public key to every member's server. Everything "
            "signed from now on uses the new key."
        ),
    )
    rotate.add_argument("name")

    noun.verb(
        "ensure-demo",
        ensure_demo_command,
        help=f"create a '{service.DEMO_GROUP_NAME}' group if there is no group yet",
        description=(
            f"Create a group named '{service.DEMO_GROUP_NAME}' when the database holds no "
            "group at all, so a fresh server has something to follow. Does nothing otherwise; "
            "safe to run on every start."
        ),
    )


def group_document(group: Group, stats: dict[str, int], settings: Settings) -> dict[str, Any]:
    """The stable JSON shape of a group for --json; never includes the private key."""
    return {
        "name": group.name,
        "handle": f"@{group.name}@{settings.domain}",
        "actor_url": group_urls(settings.base_url, group.name).actor,
        "display_name": group.display_name,
        "summary": group.summary,
        "rules": group.rules,
        "approval_required": group.membership_mode == MembershipMode.APPROVAL,
        "members_only": group.visibility == Visibility.MEMBERS_ONLY,
        "posting_restricted_to_mods": group.posting_restricted_to_mods,
        "publish_members": group.publish_members,
        "discoverable": group.discoverable,
        "icon": _media(group.icon, group.icon_media_type),
        "image": _media(group.image, group.image_media_type),
        "members": {
            "accepted": stats["members_accepted"],
            "pending": stats["members_pending"],
        },
        "posts": stats["posts"],
        "comments": stats["comments"],
        "created_at": group.created_at,
        "updated_at": group.updated_at,
    }


def _media(data: bytes | None, media_type: str | None) -> dict[str, Any] | None:
    if data is None or media_type is None:
        return None
    return {"media_type": media_type, "bytes": len(data)}


def _media_text(media: dict[str, Any] | None) -> str:
    return "none" if media is None else f"{media['media_type']}, {media['bytes']} bytes"


def _group_text(doc: dict[str, Any]) -> str:
    return format_fields(
        [
            ("name", doc["name"]),
            ("handle", doc["handle"]),
            ("actor", doc["actor_url"]),
            ("display name", doc["display_name"]),
            ("summary", doc["summary"] or "-"),
            ("rules", doc["rules"] or "-"),
            ("approval required", doc["approval_required"]),
            ("members only", doc["members_only"]),
            ("posting restricted", doc["posting_restricted_to_mods"]),
            ("publish members", doc["publish_members"]),
            ("discoverable", doc["discoverable"]),
            ("icon", _media_text(doc["icon"])),
            ("image", _media_text(doc["image"])),
            ("members", f"{doc['members']['accepted']} ({doc['members']['pending']} pending)"),
            ("posts", f"{doc['posts']} ({doc['comments']} comments)"),
            ("created", doc["created_at"]),
            ("updated", doc["updated_at"]),
        ]
    )


async def _document(group: Group, settings: Settings) -> dict[str, Any]:
    return group_document(group, await service.group_stats(group), settings)


async def create_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await service.create_group(
        args.name,
        display_name=args.display_name,
        summary=args.summary,
        rules=args.rules,
        approval_required=args.approval_required,
        members_only=args.members_only,
        posting_restricted_to_mods=args.posting_restricted,
        publish_members=args.publish_members,
        reuse_after=ctx.settings.group_name_reuse_after if args.allow_reuse else None,
    )
    doc = await _document(group, ctx.settings)
    return Reply(doc, f"created group {doc['handle']}\n{_group_text(doc)}")


async def list_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    docs = [await _document(group, ctx.settings) for group in await service.list_groups()]
    if not docs:
        return Reply(docs, "no groups yet; create one with: group create NAME")
    rows = [
        [
            doc["name"],
            doc["members"]["accepted"],
            doc["members"]["pending"],
            doc["posts"],
            "members-only" if doc["members_only"] else "public",
            "approval" if doc["approval_required"] else "open",
            doc["handle"],
        ]
        for doc in docs
    ]
    headers = ["NAME", "MEMBERS", "PENDING", "POSTS", "VISIBILITY", "JOINING", "HANDLE"]
    return Reply(docs, format_table(headers, rows))


async def show_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    doc = await _document(await service.get_group(args.name), ctx.settings)
    return Reply(doc, _group_text(doc))


async def edit_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    changes: dict[str, Any] = {
        "display_name": args.display_name,
        "summary": args.summary,
        "rules": args.rules,
        "approval_required": args.approval_required,
        "members_only": args.members_only,
        "posting_restricted_to_mods": args.posting_restricted,
        "publish_members": args.publish_members,
        "discoverable": args.discoverable,
    }
    changes = {key: value for key, value in changes.items() if value is not None}
    if args.clear_icon:
        changes["clear_icon"] = True
    if args.clear_image:
        changes["clear_image"] = True
    if not changes and args.icon is None and args.image is None:
        raise CommandError(
            "nothing to change: give at least one option (see group edit --help)",
            exit_code=EXIT_USAGE,
        )
    # Look the group up first so a typo in its name is reported before a file problem.
    await service.get_group(args.name)
    limit = ctx.settings.max_icon_bytes
    if args.icon is not None:
        changes["icon"] = load_image_file(args.icon, max_bytes=limit)
    if args.image is not None:
        changes["image"] = load_image_file(args.image, max_bytes=limit)
    group = await service.edit_group(ctx.settings, args.name, **changes)
    doc = await _document(group, ctx.settings)
    return Reply(doc, f"updated group {doc['handle']}\n{_group_text(doc)}")


async def delete_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await service.get_group(args.name)
    stats = await service.group_stats(group)
    if not args.yes:
        await ctx.confirm_by_typing(
            group.name,
            prompt=(
                f"This deletes group {group.name!r} with its {stats['members_accepted']} "
                f"members, {stats['members_pending']} pending requests and "
                f"{stats['posts']} posts. Type the group's name to confirm: "
            ),
            refusal=(
                f"refusing to delete group {group.name!r} without confirmation: "
                "not a terminal; pass --yes to delete it"
            ),
        )
    tombstone = await lifecycle.delete_group(ctx.settings, group.name)
    members, posts = stats["members_accepted"], stats["posts"]
    told = tombstone.members_told
    return Reply(
        {"deleted": group.name, **stats, "deliveries": told},
        f"deleted group {group.name} ({members} members, {posts} posts); "
        f"its Delete goes to {_inboxes(told)} of members' servers, and the name stays reserved",
    )


def _inboxes(count: int) -> str:
    return f"{count} {'inbox' if count == 1 else 'inboxes'}"


async def rotate_key_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    update = await lifecycle.rotate_key(ctx.settings, args.name)
    told = await update.deliveries.all().count()
    return Reply(
        {"name": args.name, "rotated": True, "deliveries": told},
        f"group {args.name} has a new key pair; Update{{Group}} goes to {_inboxes(told)} "
        "of members' servers",
    )


async def ensure_demo_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await service.ensure_demo_group()
    if group is None:
        count = await service.count_groups()
        return Reply(
            {"created": False, "group": None, "groups": count},
            f"{count} {'group exists' if count == 1 else 'groups exist'} already; "
            "no demo group created",
        )
    doc = await _document(group, ctx.settings)
    return Reply(
        {"created": True, "group": doc, "groups": 1},
        f"created demo group {doc['handle']} at {doc['actor_url']}",
    )
