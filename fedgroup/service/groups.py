"""Group operations: create, look up, edit, delete, count.

The admin CLI, the web pages and moderators' commands all change groups through these
functions, so a rule about names or settings is enforced in one place whoever asks.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from fedgroup.activitypub.keys import generate_rsa_key_pair
from fedgroup.config import Settings
from fedgroup.service.errors import AlreadyExists, InvalidValue, NotFound, Reserved
from fedgroup.service.media import check_image
from fedgroup.service.profile import send_profile_update
from fedgroup.service.tombstones import reusable_tombstone, tombstone_of
from fedgroup.storage.models import (
    Group,
    Membership,
    MembershipMode,
    MembershipState,
    StoredObject,
    Visibility,
)

MAX_NAME_LENGTH = 64
MAX_DISPLAY_NAME_LENGTH = 200
MAX_SUMMARY_LENGTH = 10_000
MAX_RULES_LENGTH = 20_000
DEMO_GROUP_NAME = "demo"

_NAME_PATTERN = re.compile(r"[a-z0-9_]+")

#: Names that would read as the server itself (`@admin@host`), collide with server-level
#: actors and endpoints, or invite impersonation of the people who run the instance.
RESERVED_NAMES = frozenset(
    {
        "abuse", "about", "account", "accounts", "activities", "actor", "admin",
        "administrator", "api", "auth", "fedgroup", "followers", "following", "group",
        "groups", "help", "host_meta", "hostmaster", "inbox", "info", "instance", "login",
        "logout", "mail", "media", "mod", "moderator", "moderators", "mods", "nodeinfo",
        "noreply", "no_reply", "objects", "outbox", "postmaster", "public", "relay", "root",
        "security", "settings", "shared_inbox", "sharedinbox", "static", "support",
        "system", "user", "users", "webfinger", "webmaster", "well_known", "www",
    }
)  # fmt: skip


def validate_group_name(name: str) -> str:
    """Return `name` if it can name a group, else raise InvalidValue saying why.

    Names are lowercase so `@Jazz@host` and `@jazz@host` cannot be two different groups
    (WebFinger lookups are case-insensitive on many servers).
    """
    if not isinstance(name, str) or not name:
        raise InvalidValue("group name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidValue(
            f"group name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
        )
    if not _NAME_PATTERN.fullmatch(name):
        lowered = name.lower()
        if lowered != name and _NAME_PATTERN.fullmatch(lowered):
            raise InvalidValue(f"group name {name!r} has uppercase letters; use {lowered!r}")
        raise InvalidValue(
            f"group name {name!r} may only contain lowercase letters a-z, digits and _"
        )
    if not name.strip("_"):
        # `@_@host` reads as punctuation, not a name people can say or search for.
        raise InvalidValue(f"group name {name!r} needs at least one letter or digit")
    if name in RESERVED_NAMES:
        raise InvalidValue(f"group name {name!r} is reserved")
    return name


def _display_name(value: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidValue("display name is empty")
    if len(text) > MAX_DISPLAY_NAME_LENGTH:
        raise InvalidValue(
            f"display name is {len(text)} characters long; the limit is {MAX_DISPLAY_NAME_LENGTH}"
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidValue("display name must be one line without control characters")
    return text


def _long_text(label: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidValue(f"{label} is {len(value)} characters long; the limit is {limit}")
    # Tabs and newlines are how people write rules; other control characters (NUL above
    # all, which PostgreSQL text refuses) are never meant.
    if any((ord(ch) < 32 and ch not in "\t\n\r") or ord(ch) == 127 for ch in value):
        raise InvalidValue(f"{label} contains control characters")
    return value


def _image(label: str, value: tuple[bytes, str]) -> tuple[bytes, str]:
    data, media_type = value
    sniffed = check_image(data, label=label)
    if sniffed != media_type:
        raise InvalidValue(f"{label} is {sniffed}, not {media_type} as given")
    return data, media_type


async def create_group(
    name: str,
    *,
    display_name: str | None = None,
    summary: str = "",
    rules: str = "",
    approval_required: bool = False,
    members_only: bool = False,
    posting_restricted_to_mods: bool = False,
    publish_members: bool = False,
    reuse_after: int | None = None,
) -> Group:
    """Create a group with its own RSA key pair; its display name defaults to its name.

    The name of a deleted group is refused (Reserved) unless `reuse_after` is given (the
    operator's `--allow-reuse`) and the deletion is at least that many seconds old.
    """
    validate_group_name(name)
    title = _display_name(name if display_name is None else display_name)
    summary = _long_text("summary", summary, MAX_SUMMARY_LENGTH)
    rules = _long_text("rules", rules, MAX_RULES_LENGTH)
    if await Group.exists(name=name):
        raise AlreadyExists(f"a group named {name!r} exists already")
    tombstone = await reusable_tombstone(name, reuse_after=reuse_after)
    # Key generation takes tens of milliseconds of CPU: keep the event loop (and so the
    # web server, when it is the caller) responsive meanwhile.
    private_pem, public_pem = await asyncio.to_thread(generate_rsa_key_pair)
    try:
        async with in_transaction():
            if tombstone is not None:
                await tombstone.delete()
            return await Group.create(
                name=name,
                display_name=title,
                summary=summary,
                rules=rules,
                membership_mode=(
                    MembershipMode.APPROVAL if approval_required else MembershipMode.OPEN
                ),
                visibility=Visibility.MEMBERS_ONLY if members_only else Visibility.PUBLIC,
                posting_restricted_to_mods=posting_restricted_to_mods,
                publish_members=publish_members,
                private_key_pem=private_pem,
                public_key_pem=public_pem,
            )
    except IntegrityError:
        # Another process created the same name between our check and our insert.
        raise AlreadyExists(f"a group named {name!r} exists already") from None


async def get_group(name: str) -> Group:
    """The group called `name`, or NotFound."""
    group = await Group.get_or_none(name=name) if isinstance(name, str) else None
    if group is None:
        hint = ""
        if isinstance(name, str) and name != name.lower():
            hint = " (group names are lowercase)"
        elif (tombstone := await tombstone_of(name)) is not None:
            hint = f" (it was deleted on {tombstone.deleted_at:%Y-%m-%d})"
        raise NotFound(f"no group named {name!r}{hint}")
    return group


async def list_groups() -> list[Group]:
    """Every group, by name."""
    return await Group.all().order_by("name")


async def count_groups() -> int:
    """How many groups this server hosts."""
    return await Group.all().count()


async def edit_group(
    settings: Settings,
    name: str,
    *,
    display_name: str | None = None,
    summary: str | None = None,
    rules: str | None = None,
    approval_required: bool | None = None,
    members_only: bool | None = None,
    posting_restricted_to_mods: bool | None = None,
    publish_members: bool | None = None,
    discoverable: bool | None = None,
    publish_modlog: bool | None = None,
    modlog_names_moderators: bool | None = None,
    icon: tuple[bytes, str] | None = None,
    image: tuple[bytes, str] | None = None,
    clear_icon: bool = False,
    clear_image: bool = False,
) -> Group:
    """Change the settings given (None leaves a setting as it is); return the saved group.
    Members' servers are sent `Update{Group}` so they show the new profile.

    `icon`/`image` are (bytes, media type) pairs; the bytes must really be that image type.
    Callers enforce the size cap where the bytes come in (see `media.load_image_file`).
    """
    if icon is not None and clear_icon:
        raise InvalidValue("give a new icon or clear it, not both")
    if image is not None and clear_image:
        raise InvalidValue("give a new image or clear it, not both")
    group = await get_group(name)
    changes: dict[str, Any] = {}
    if display_name is not None:
        changes["display_name"] = _display_name(display_name)
    if summary is not None:
        changes["summary"] = _long_text("summary", summary, MAX_SUMMARY_LENGTH)
    if rules is not None:
        changes["rules"] = _long_text("rules", rules, MAX_RULES_LENGTH)
    if approval_required is not None:
        changes["membership_mode"] = (
            MembershipMode.APPROVAL if approval_required else MembershipMode.OPEN
        )
    if members_only is not None:
        changes["visibility"] = Visibility.MEMBERS_ONLY if members_only else Visibility.PUBLIC
    if posting_restricted_to_mods is not None:
        changes["posting_restricted_to_mods"] = posting_restricted_to_mods
    if publish_members is not None:
        changes["publish_members"] = publish_members
    if discoverable is not None:
        changes["discoverable"] = discoverable
    if publish_modlog is not None:
        changes["publish_modlog"] = publish_modlog
    if modlog_names_moderators is not None:
        changes["modlog_names_moderators"] = modlog_names_moderators
    if icon is not None:
        changes["icon"], changes["icon_media_type"] = _image("icon", icon)
    if clear_icon:
        changes["icon"] = changes["icon_media_type"] = None
    if image is not None:
        changes["image"], changes["image_media_type"] = _image("image", image)
    if clear_image:
        changes["image"] = changes["image_media_type"] = None
    if changes:
        group.update_from_dict(changes)
        await group.save(update_fields=[*changes, "updated_at"])
        await send_profile_update(settings, group)
    return group


def group_settings(group: Group) -> dict[str, Any]:
    """What an admin decides about a group, as plain JSON values: one shape for the admin
    CLI's `--json` and for a group's export, so a setting added to one is in both."""
    return {
        "display_name": group.display_name,
        "summary": group.summary,
        "rules": group.rules,
        "approval_required": group.membership_mode == MembershipMode.APPROVAL,
        "members_only": group.visibility == Visibility.MEMBERS_ONLY,
        "posting_restricted_to_mods": group.posting_restricted_to_mods,
        "publish_members": group.publish_members,
        "discoverable": group.discoverable,
        "publish_modlog": group.publish_modlog,
        "modlog_names_moderators": group.modlog_names_moderators,
    }


async def group_stats(group: Group) -> dict[str, int]:
    """Counts an admin wants at a glance: members (accepted, pending), posts, comments."""
    memberships = Membership.filter(group_id=group.id)
    objects = StoredObject.filter(group_id=group.id, deleted=False, removed=False)
    return {
        "members_accepted": await memberships.filter(state=MembershipState.ACCEPTED).count(),
        "members_pending": await memberships.filter(state=MembershipState.PENDING).count(),
        "posts": await objects.filter(in_reply_to__isnull=True).count(),
        "comments": await objects.filter(in_reply_to__isnull=False).count(),
    }


async def ensure_demo_group() -> Group | None:
    """Create the `demo` group when there is no group at all; None when nothing was done.

    Safe to run on every start (`make run`) and from two processes at once.
    """
    if await Group.exists():
        return None
    try:
        return await create_group(
            DEMO_GROUP_NAME,
            display_name="Demo group",
            summary="A group to try fedgroup with: follow it from your account and post to it.",
        )
    except (AlreadyExists, Reserved):
        return None
