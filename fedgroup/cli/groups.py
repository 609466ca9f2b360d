"""`group …`: create, list, show, edit, delete, export, import and move the groups this
server hosts."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from fedgroup.activitypub.actors import group_urls
from fedgroup.cli.commands import EXIT_USAGE, CommandContext, CommandError, CommandRegistry
from fedgroup.cli.output import Reply, format_fields, format_table
from fedgroup.config import Settings
from fedgroup.service import groups as service
from fedgroup.service import lifecycle, moving
from fedgroup.service.instance import open_fetcher
from fedgroup.service.media import load_image_file
from fedgroup.storage.models import Group


def register(cli: CommandRegistry) -> None:
    noun = cli.noun(
        "group", help="create, list, show, edit, delete, export, import and move groups"
    )

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
    for flag, meaning in (
        ("--posting-restricted", "whether only moderators may start threads"),
        ("--publish-members", "whether other servers may see the member list"),
        ("--discoverable", "whether directories and search may list the group"),
        ("--publish-modlog", "whether the group's page shows its moderation log (public groups)"),
        ("--modlog-names-moderators", "whether the published log says which moderator decided"),
    ):
        edit.add_argument(flag, action=argparse.BooleanOptionalAction, help=meaning)
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

    export = noun.verb(
        "export",
        export_command,
        help="write a group's settings, members and bans to a JSON file",
        description=(
            "Write the group's settings, rules, images, bans and member list (with each "
            "member's state) to FILE, for `group import` on another fedgroup server. Posts "
            "and keys are not exported. FILE must not exist; it is readable by you only."
        ),
    )
    export.add_argument("name")
    export.add_argument("file", metavar="FILE", type=Path)

    imported = noun.verb(
        "import",
        import_command,
        help="create a group from another server's export, to move it here",
        description=(
            "Create the exported group here, naming its old address in alsoKnownAs. Its "
            "members are accepted as soon as their servers follow it here, which they do "
            "after `group move` on the old server."
        ),
    )
    imported.add_argument("file", metavar="FILE", type=Path)
    imported.add_argument("--name", help="give the group another name here")
    imported.add_argument(
        "--allow-reuse",
        action="store_true",
        help="take the name of a group deleted at least group_name_reuse_after ago",
    )

    move = noun.verb(
        "move",
        move_command,
        help="tell members' servers that the group now lives at another address",
        description=(
            "Send Move (FEP-7628) and Update{Group} with movedTo to every member's server, "
            "which then follows the group at TARGET. TARGET (an actor URL or @name@host) "
            "must name this group in alsoKnownAs: import the export there first."
        ),
    )
    move.add_argument("name")
    move.add_argument("target", metavar="TARGET", help="the new group's actor URL or handle")

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
        **service.group_settings(group),
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
            ("publish modlog", doc["publish_modlog"]),
            ("modlog names moderators", doc["modlog_names_moderators"]),
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
        "publish_modlog": args.publish_modlog,
        "modlog_names_moderators": args.modlog_names_moderators,
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


#: Larger than any real export (images are capped at max_icon_bytes each): a safety limit.
MAX_EXPORT_BYTES = 256 * 1024 * 1024


async def export_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    document = await moving.export_group(ctx.settings, args.name)
    data = json.dumps(document, indent=2, ensure_ascii=False).encode() + b"\n"
    try:
        # The member list is private: readable by the operator only.
        fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CommandError(f"{args.file} exists already; give a new file name") from None
    except OSError as exc:
        raise CommandError(f"cannot write {args.file}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    members = document["members"]
    pending = sum(1 for m in members if m["state"] == "pending")
    summary = {"exported": args.name, "file": str(args.file), "members": len(members),
               "pending": pending, "bans": len(document["bans"]),
               "pinned": len(document["pinned"]),
               "not_exported": document["not_exported"]}  # fmt: skip
    return Reply(
        summary,
        f"exported group {args.name} to {args.file}: {len(members)} members ({pending} "
        f"pending), {len(document['bans'])} bans, {len(document['pinned'])} pinned posts; "
        "not exported: " + "; ".join(document["not_exported"]),
    )


async def import_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    try:
        size = args.file.stat().st_size
        if size > MAX_EXPORT_BYTES:
            raise CommandError(f"{args.file} is {size} bytes; not a group export")
        document = json.loads(args.file.read_bytes())
    except FileNotFoundError:
        raise CommandError(f"{args.file}: no such file") from None
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CommandError(f"{args.file} is not JSON: {exc}") from None
    result = await moving.import_group(
        ctx.settings,
        document,
        name=args.name,
        reuse_after=ctx.settings.group_name_reuse_after if args.allow_reuse else None,
        max_image_bytes=ctx.settings.max_icon_bytes,
    )
    doc = await _document(result.group, ctx.settings)
    return Reply(
        {**doc, "moved_from": result.source_actor, "members_to_follow": result.moved_members,
         "pending_not_carried": result.pending_not_carried, "bans": result.bans,
         "pinned": result.pinned},
        f"imported group {doc['handle']} from {result.source_actor}: "
        f"{result.moved_members} members are accepted when their servers follow it here; "
        f"{result.pending_not_carried} pending requests not carried; {result.bans} bans, "
        f"{result.pinned} pinned posts\n"
        f"next, on the old server: fedgroup admin group move {result.source_name} "
        f"{doc['actor_url']}",
    )  # fmt: skip


async def move_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    await service.get_group(args.name)  # a typo is reported before any network request
    async with open_fetcher(ctx.settings) as fetcher:
        move = await moving.move_group(ctx.settings, fetcher, args.name, args.target)
    told = await move.deliveries.all().count()
    target = move.payload["target"]
    return Reply(
        {"name": args.name, "moved_to": target, "deliveries": told},
        f"group {args.name} moved to {target}; Move goes to {_inboxes(told)} of members' "
        "servers, which follow it there",
    )
