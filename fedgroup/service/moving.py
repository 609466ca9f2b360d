"""Moving a group to another server: export, import, and the `Move` members' servers follow.

1. `export_group` writes what makes the group itself (settings, rules, images, its bans, its
   moderators, its pinned posts and its member list with each member's state) as one JSON
   document. Private keys stay: the new home is a new actor with its own key.
2. `import_group` on the new server creates the group from it and names the old actor in
   `alsoKnownAs`. Accepted members come in as `moved`: nothing is sent to them until their
   server follows the new address, and then they are accepted at once, also in a group that
   approves members (they were approved already). Pending requests are not carried: their
   server asked the old actor, and asks again.
3. `move_group` on the old server checks that the new actor names the old one (Mastodon
   checks exactly that, and would ignore the Move otherwise), records `movedTo` on the
   group, and sends `Update{Group}` and `Move` (FEP-7628) to every member's server, which
   then follows the new address and leaves the old one.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from ..activitypub import builders
from ..activitypub.actors import group_urls
from ..activitypub.fetch import FetchError
from ..activitypub.hosts import authority_or_none
from ..activitypub.signed_fetch import Fetcher
from ..activitypub.versions import parse_time
from ..activitypub.vocab import as_list, id_of
from ..activitypub.webfinger_client import resolve_handle
from ..config import Settings
from ..storage.models import (
    Activity,
    Ban,
    Group,
    Membership,
    MembershipState,
    Moderator,
    RemoteActor,
    StoredObject,
)
from . import threads
from .errors import InvalidValue
from .groups import create_group, get_group, group_settings
from .ids import new_activity_id
from .media import check_image
from .outbound import queue_activity
from .profile import lifecycle_addressing, member_servers, send_profile_update

log = logging.getLogger(__name__)

EXPORT_FORMAT = "fedgroup-group-export"
EXPORT_VERSION = 1
#: What the export holds besides the group's own settings; said in the file, so a reader
#: knows that a missing part was not forgotten.
NOT_EXPORTED = (
    "posts other than the pinned ones, with their removals and locks (they stay at the old "
    "address)",
    "private keys (the new home has its own)",
    "the moderation log, held posts and reports (they stay with the old server's admin)",
)


def _timestamp(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _image(data: bytes | None, media_type: str | None) -> dict[str, str] | None:
    if data is None or media_type is None:
        return None
    return {"media_type": media_type, "data": base64.b64encode(data).decode("ascii")}


async def export_group(settings: Settings, name: str) -> dict[str, Any]:
    """The group as one JSON-ready document (see the module's doc)."""
    group = await get_group(name)
    actor_url = group_urls(settings.base_url, group.name).actor
    rows = await Membership.filter(group=group).order_by("id").prefetch_related("actor")
    members = [
        {
            "actor": m.actor.url,
            "type": m.actor.type,
            "preferred_username": m.actor.preferred_username,
            "inbox": m.actor.inbox,
            "shared_inbox": m.actor.shared_inbox,
            "document": m.actor.document if isinstance(m.actor.document, dict) else {},
            "state": str(m.state),
            "since": _timestamp(m.created_at),
        }
        for m in rows
    ]
    bans = [
        {
            "actor": b.actor_url,
            "domain": b.domain,
            "reason": b.reason,
            "expires": _timestamp(b.expires_at),
        }
        for b in await Ban.filter(group=group).order_by("id")
        if b.expires_at is None or b.expires_at > datetime.now(UTC)
    ]
    moderators = [
        {"actor": m.actor_url} for m in await Moderator.filter(group=group).order_by("id")
    ]
    pinned = [
        {"attributed_to": o.attributed_to, "pinned_at": _timestamp(o.pinned_at),
         "document": o.document}
        for o in await StoredObject.filter(
            group=group, pinned_at__isnull=False, deleted=False, removed=False
        ).order_by("pinned_at", "id")
    ]  # fmt: skip
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": _timestamp(datetime.now(UTC)),
        "source": {
            "actor": actor_url,
            "handle": f"@{group.name}@{settings.domain}",
            "also_known_as": list(group.also_known_as or []),
        },
        "group": {
            "name": group.name,
            **group_settings(group),
            "icon": _image(group.icon, group.icon_media_type),
            "image": _image(group.image, group.image_media_type),
            "created_at": _timestamp(group.created_at),
        },
        "members": members,
        "bans": bans,
        "moderators": moderators,
        "pinned": pinned,
        "not_exported": list(NOT_EXPORTED),
    }


# -- import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedMember:
    actor: str
    host: str
    type: str
    preferred_username: str | None
    inbox: str
    shared_inbox: str | None
    state: MembershipState
    document: dict[str, Any]


@dataclass(frozen=True)
class ImportResult:
    group: Group
    source_actor: str
    source_name: str
    moved_members: int
    pending_not_carried: int
    bans: int
    pinned: int = 0


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidValue(f"not a usable group export: {message}")


def _url(value: Any, what: str) -> str:
    host = authority_or_none(value) if isinstance(value, str) else None
    _require(
        isinstance(value, str) and value.startswith(("http://", "https://")) and bool(host),
        f"{what} is not an http(s) URL: {str(value)[:100]!r}",
    )
    return value


def _same_host(url: str, host: str, what: str) -> str:
    _require(authority_or_none(url) == host, f"{what} {url[:100]!r} is not on the actor's host")
    return url


def _member(entry: Any, n: int) -> ImportedMember:
    _require(isinstance(entry, dict), f"member {n} is not an object")
    actor = _url(entry.get("actor"), f"member {n}'s actor")
    host = authority_or_none(actor) or ""
    state = entry.get("state")
    _require(state in ("accepted", "pending", "moved"), f"member {n} has state {state!r}")
    shared = entry.get("shared_inbox")
    username = entry.get("preferred_username")
    kind = entry.get("type") or "Person"
    _require(username is None or isinstance(username, str), f"member {n}'s name is not text")
    _require(isinstance(kind, str) and len(kind) <= 32, f"member {n}'s type is not a type")
    document = entry.get("document") or {}
    _require(isinstance(document, dict), f"member {n}'s document is not an object")
    _require(document.get("id", actor) == actor, f"member {n}'s document is someone else's")
    return ImportedMember(
        actor=actor,
        host=host,
        type=kind,
        preferred_username=username[:255] if username else None,
        # Deliveries go to these: never to a host other than the member's own.
        inbox=_same_host(_url(entry.get("inbox"), f"member {n}'s inbox"), host, "inbox"),
        shared_inbox=(
            _same_host(_url(shared, f"member {n}'s shared inbox"), host, "shared inbox")
            if shared is not None
            else None
        ),
        state=MembershipState(state),
        document=document,
    )


def _image_value(value: Any, what: str) -> tuple[bytes, str] | None:
    if value is None:
        return None
    _require(isinstance(value, dict), f"{what} is not an object")
    try:
        data = base64.b64decode(value.get("data") or "", validate=True)
    except (binascii.Error, TypeError):
        raise InvalidValue(f"not a usable group export: {what} is not base64") from None
    media_type = value.get("media_type")
    _require(isinstance(media_type, str), f"{what} has no media type")
    return data, media_type


def _pinned(entry: Any, n: int) -> tuple[str, dict[str, Any], datetime]:
    """A pinned post as exported: its author, its document (as its origin served it), when
    it was pinned. The post's id must be on its author's origin, as for any post."""
    _require(isinstance(entry, dict), f"pinned post {n} is not an object")
    author = _url(entry.get("attributed_to"), f"pinned post {n}'s author")
    post = entry.get("document")
    _require(isinstance(post, dict), f"pinned post {n} has no document")
    post_id = _url(post.get("id"), f"pinned post {n}'s id")
    _same_host(post_id, authority_or_none(author) or "", f"pinned post {n}")
    _require(threads.post_type(post) is not None, f"pinned post {n} is not a post")
    when = entry.get("pinned_at")
    pinned_at = parse_time(when) if isinstance(when, str) else None
    _require(when is None or pinned_at is not None, f"pinned post {n}'s time {when!r}")
    return author, post, pinned_at or datetime.now(UTC)


def _bool(settings: dict[str, Any], key: str) -> bool:
    value = settings.get(key, False)
    _require(isinstance(value, bool), f"group.{key} is not true or false")
    return value


async def import_group(
    settings: Settings,
    document: Any,
    *,
    name: str | None = None,
    reuse_after: int | None = None,
    max_image_bytes: int,
) -> ImportResult:
    """Create the exported group here (see the module's doc); nothing is stored unless all
    of it is usable. `name` renames it (when the old name is taken here)."""
    _require(isinstance(document, dict), "not a JSON object")
    _require(
        document.get("format") == EXPORT_FORMAT,
        f"format is {str(document.get('format'))[:60]!r}, expected {EXPORT_FORMAT!r}",
    )
    _require(
        document.get("version") == EXPORT_VERSION,
        f"version {document.get('version')!r} is not one this fedgroup reads ({EXPORT_VERSION})",
    )
    source = document.get("source")
    _require(isinstance(source, dict), "no source")
    source_actor = _url(source.get("actor"), "source actor")
    group_settings = document.get("group")
    _require(isinstance(group_settings, dict), "no group")
    members_raw = document.get("members", [])
    bans_raw = document.get("bans", [])
    _require(isinstance(members_raw, list), "members is not a list")
    _require(isinstance(bans_raw, list), "bans is not a list")
    members = [_member(entry, n) for n, entry in enumerate(members_raw, 1)]
    bans: list[tuple[str | None, str | None, str, datetime | None]] = []
    for n, ban in enumerate(bans_raw, 1):
        _require(isinstance(ban, dict), f"ban {n} is not an object")
        actor, domain = ban.get("actor"), ban.get("domain")
        _require(bool(actor) != bool(domain), f"ban {n} needs an actor or a domain")
        if actor:
            _url(actor, f"ban {n}'s actor")
        else:
            _require(bool(authority_or_none(domain)), f"ban {n}'s domain {domain!r}")
        reason = ban.get("reason") or ""
        _require(isinstance(reason, str), f"ban {n}'s reason is not text")
        expires = ban.get("expires")
        until = parse_time(expires) if isinstance(expires, str) else None
        _require(expires is None or until is not None, f"ban {n}'s expiry {expires!r}")
        bans.append((actor, authority_or_none(domain) if domain else None, reason, until))
    moderators_raw = document.get("moderators", [])
    _require(isinstance(moderators_raw, list), "moderators is not a list")
    moderators = []
    for n, entry in enumerate(moderators_raw, 1):
        _require(isinstance(entry, dict), f"moderator {n} is not an object")
        moderators.append(_url(entry.get("actor"), f"moderator {n}'s actor"))
    pinned_raw = document.get("pinned", [])
    _require(isinstance(pinned_raw, list), "pinned is not a list")
    pinned = [_pinned(entry, n) for n, entry in enumerate(pinned_raw, 1)]
    images = {
        key: _image_value(group_settings.get(key), f"group.{key}") for key in ("icon", "image")
    }
    for key, value in images.items():
        if value is not None and len(value[0]) > max_image_bytes:
            raise InvalidValue(f"the group's {key} is larger than max_icon_bytes")
        if value is not None and check_image(value[0], label=key) != value[1]:
            raise InvalidValue(f"the group's {key} is not the {value[1]} it says it is")
    text = {key: group_settings.get(key, "") for key in ("summary", "rules")}
    for key, value in text.items():
        _require(isinstance(value, str), f"group.{key} is not text")
    new_name = name or group_settings.get("name")
    _require(isinstance(new_name, str), "group.name is missing")
    display_name = group_settings.get("display_name")
    _require(display_name is None or isinstance(display_name, str), "group.display_name")

    async with in_transaction():
        group = await create_group(
            new_name,
            display_name=display_name,
            summary=text["summary"],
            rules=text["rules"],
            approval_required=_bool(group_settings, "approval_required"),
            members_only=_bool(group_settings, "members_only"),
            posting_restricted_to_mods=_bool(group_settings, "posting_restricted_to_mods"),
            publish_members=_bool(group_settings, "publish_members"),
            reuse_after=reuse_after,
        )
        earlier = [a for a in as_list(source.get("also_known_as")) if isinstance(a, str)]
        group.also_known_as = list(dict.fromkeys([source_actor, *earlier]))
        group.discoverable = group_settings.get("discoverable", True) is not False
        group.publish_modlog = _bool(group_settings, "publish_modlog")
        group.modlog_names_moderators = _bool(group_settings, "modlog_names_moderators")
        if images["icon"] is not None:
            group.icon, group.icon_media_type = images["icon"]
        if images["image"] is not None:
            group.image, group.image_media_type = images["image"]
        await group.save()
        moved = 0
        for member in members:
            if member.state == MembershipState.PENDING:
                continue
            actor = await RemoteActor.get_or_none(url=member.actor)
            if actor is None:
                actor = await RemoteActor.create(
                    url=member.actor,
                    type=member.type,
                    preferred_username=member.preferred_username,
                    host=member.host,
                    inbox=member.inbox,
                    shared_inbox=member.shared_inbox,
                    # As the old server kept it (trimmed): names for the pages until the
                    # member's next request makes us fetch it anew.
                    document=member.document,
                )
            _, created = await Membership.get_or_create(
                group=group, actor=actor, defaults={"state": MembershipState.MOVED}
            )
            moved += created
        for actor_url, domain, reason, until in bans:
            await Ban.create(
                group=group, actor_url=actor_url, domain=domain, reason=reason, expires_at=until
            )
        for actor_url in dict.fromkeys(moderators):
            await Moderator.create(group=group, actor_url=actor_url, added_by=source_actor)
        for author, post, pinned_at in pinned:
            row = await threads.store_in_thread(group, author, post, threads.Placement())
            if row.group_id == group.id:  # not a post another group here holds already
                row.pinned_at = pinned_at
                await row.save(update_fields=["pinned_at"])
    pending = sum(1 for m in members if m.state == MembershipState.PENDING)
    log.info("imported group %s from %s: %d members to follow", new_name, source_actor, moved)
    return ImportResult(
        group,
        source_actor,
        group_settings.get("name") or new_name,
        moved,
        pending,
        len(bans),
        len(pinned),
    )


# -- the move -------------------------------------------------------------------------------


async def resolve_target(fetcher: Fetcher, target: str) -> str:
    """The actor URL of the group's new home, from its URL or its handle (WebFinger)."""
    text = target.strip()
    if text.startswith(("http://", "https://")):
        return text
    try:
        return await resolve_handle(
            fetcher.session, text, allow_private=fetcher.allow_private, max_bytes=fetcher.max_bytes
        )
    except FetchError as exc:
        raise InvalidValue(
            f"cannot find {text} by WebFinger ({getattr(exc, 'reason', None) or exc})"
        ) from None


async def move_group(settings: Settings, fetcher: Fetcher, name: str, target: str) -> Activity:
    """Tell every member's server that the group now lives at `target` (see module doc)."""
    group = await get_group(name)
    actor_url = group_urls(settings.base_url, group.name).actor
    target_url = await resolve_target(fetcher, target)
    if target_url == actor_url:
        raise InvalidValue("a group cannot move to itself")
    try:
        new_home = await fetcher.get_document(target_url)
    except FetchError as exc:
        raise InvalidValue(
            f"cannot fetch {target_url} ({getattr(exc, 'reason', None) or exc})"
        ) from None
    if new_home.get("type") != "Group":
        raise InvalidValue(f"{target_url} is a {new_home.get('type')!r}, not a Group")
    if actor_url not in {id_of(a) for a in as_list(new_home.get("alsoKnownAs"))}:
        raise InvalidValue(
            f"{target_url} does not name {actor_url} in alsoKnownAs, so members' servers would "
            "refuse the move; import this group's export there first"
        )
    target_url = new_home["id"]
    group.moved_to = target_url
    await group.save(update_fields=["moved_to", "updated_at"])
    await send_profile_update(settings, group)
    to, cc = lifecycle_addressing(settings, group)
    move = builders.move(new_activity_id(settings), actor_url, target_url, to, cc)
    activity = await queue_activity(move, group=group, inboxes=await member_servers(group))
    log.info("group %s moved to %s", group.name, target_url)
    return activity
