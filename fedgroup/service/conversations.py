"""Group conversations: members' posts stored and announced to every member's server.

Every id the group mints here is derived from what it announces (uuid5 of group and source
id), so processing the same inbound activity twice queues nothing twice: outbound queuing
is idempotent per id. That is what makes at-least-once inbound processing safe.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..activitypub import builders
from ..activitypub.actor_docs import actor_of
from ..activitypub.actors import group_urls
from ..activitypub.addressing import in_reply_to, local_groups_named, named_actors, recipients
from ..activitypub.fetch import FetchError, same_origin
from ..activitypub.sanitize import sanitize_html
from ..activitypub.shapes import Shape, shape_for
from ..activitypub.signed_fetch import Fetcher
from ..activitypub.vocab import id_of, is_public
from ..config import Settings
from ..storage.models import (
    Activity,
    Group,
    Instance,
    Membership,
    MembershipMode,
    MembershipState,
    StoredObject,
    Visibility,
)
from .ids import derived_id
from .membership import is_banned
from .outbound import queue_activity

log = logging.getLogger(__name__)

POSTABLE_TYPES = frozenset({"Note", "Page", "Article", "Question", "Event", "Image", "Video"})


class Refused(Exception):
    """Valid, but not something this group announces; the reason is recorded and logged."""


@dataclass(frozen=True)
class Audience:
    """A group's members' inboxes, split by the shape their software understands."""

    wrapped: list[str]
    boost: list[str]


def _derived_id(settings: Settings, kind: str, group: Group, source: str) -> str:
    return derived_id(settings, kind, group.name, source)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def group_is_public(group: Group) -> bool:
    return group.visibility == Visibility.PUBLIC


async def audience_of(group: Group) -> Audience:
    """Member inboxes (shared inbox per server), one shape per server, never two."""
    rows = await Membership.filter(group=group, state=MembershipState.ACCEPTED).prefetch_related(
        "actor"
    )
    hosts = {m.actor.host for m in rows}
    software = (
        {i.host: i.software for i in await Instance.filter(host__in=list(hosts))} if hosts else {}
    )
    shapes: dict[Shape, dict[str, None]] = defaultdict(dict)
    for m in rows:
        inbox = m.actor.shared_inbox or m.actor.inbox
        shapes[shape_for(software.get(m.actor.host))][inbox] = None
    return Audience(wrapped=list(shapes[Shape.WRAPPED]), boost=list(shapes[Shape.BOOST]))


async def resolve_object(fetcher: Fetcher, activity: dict[str, Any]) -> dict[str, Any]:
    """The activity's object, trusted only if it comes from the actor's own origin.

    An embedded copy of an object that lives elsewhere proves nothing (anyone can write
    any JSON): it is fetched from its origin instead.
    """
    actor = actor_of(activity) or ""
    obj = activity.get("object")
    object_id = id_of(obj)
    if not object_id:
        raise Refused("activity has no object id")
    if isinstance(obj, dict) and same_origin(object_id, actor):
        return obj
    try:
        return await fetcher.get_document(object_id)
    except FetchError as exc:
        raise Refused(f"object {object_id} not fetchable from its origin: {exc.reason}") from None


async def groups_addressed(
    settings: Settings, activity: dict[str, Any], obj: dict[str, Any]
) -> list[Group]:
    """Our groups the post is for: addressed, mentioned, or replied to within the group."""
    names = local_groups_named(named_actors(activity, obj), settings.url("/groups/"))
    groups = {g.id: g for g in await Group.filter(name__in=list(names))} if names else {}
    parent_id = in_reply_to(obj)
    if parent_id:
        parent = await StoredObject.get_or_none(ap_id=parent_id)
        if parent is not None and parent.group_id is not None and parent.group_id not in groups:
            groups[parent.group_id] = await Group.get(id=parent.group_id)
    return list(groups.values())


async def check_may_post(settings: Settings, group: Group, actor: str, obj: dict[str, Any]) -> None:
    """Members post; others are refused quietly (open public groups may accept anyone)."""
    if await is_banned(group, actor):
        raise Refused(f"{actor} is banned from {group.name}")
    member = await Membership.exists(group=group, actor__url=actor, state=MembershipState.ACCEPTED)
    open_to_all = (
        settings.accept_non_members
        and group_is_public(group)
        and group.membership_mode == MembershipMode.OPEN
    )
    if not (member or open_to_all):
        raise Refused(f"{actor} is not a member of {group.name}")
    if group.posting_restricted_to_mods and not in_reply_to(obj):
        # Moderators arrive with the moderation issue; until then nobody may start threads.
        raise Refused(f"{group.name} accepts top-level posts from moderators only")


async def receive_post(settings: Settings, fetcher: Fetcher, activity: dict[str, Any]) -> list[str]:
    """A member's Create: store the post and announce it in each group it is for.

    Returns the names of the groups that announced it; raises Refused when none did.
    """
    actor = actor_of(activity) or ""
    obj = await resolve_object(fetcher, activity)
    kind = obj.get("type")
    if kind not in POSTABLE_TYPES:
        raise Refused(f"{kind!r} objects are not posted to groups")
    author = id_of(obj.get("attributedTo"))
    if author is not None and author != actor:
        raise Refused(f"object attributed to {author}, not to the actor {actor}")
    groups = await groups_addressed(settings, activity, obj)
    if not groups:
        raise Refused("not addressed to a group here")
    announced, reasons = [], []
    for group in groups:
        try:
            await check_may_post(settings, group, actor, obj)
        except Refused as refusal:
            log.info("post %s refused: %s", obj.get("id"), refusal)
            reasons.append(str(refusal))
            continue
        if not await _store_post(group, actor, obj):
            reasons.append(f"{obj['id']} was deleted")
            continue
        # Announcing again after a crash is safe: the derived ids make queuing idempotent.
        await announce_post(settings, group, activity, obj)
        announced.append(group.name)
    if not announced:
        raise Refused("; ".join(reasons))
    return announced


async def _store_post(group: Group, actor: str, obj: dict[str, Any]) -> bool:
    """Store the post once; False if it was deleted (even before it arrived)."""
    existing = await StoredObject.get_or_none(ap_id=obj["id"])
    if existing is not None:
        return not existing.deleted
    await StoredObject.create(
        ap_id=obj["id"],
        type=str(obj.get("type"))[:32],
        attributed_to=actor,
        group=group,
        in_reply_to=(in_reply_to(obj) or "")[:2048] or None,
        content_html=sanitize_html(obj.get("content") or ""),
        document=obj,
    )
    return True


async def announce_post(
    settings: Settings, group: Group, activity: dict[str, Any], obj: dict[str, Any]
) -> None:
    """Announce a new post to every member server, in the shape its software shows."""
    urls = group_urls(settings.base_url, group.name)
    audience = await audience_of(group)
    public = group_is_public(group) and is_public(recipients(activity, obj))
    wrapped = builders.announce_wrapped(
        _derived_id(settings, "announce", group, activity["id"]),
        urls.actor,
        urls.followers,
        activity,
        public=public,
    )
    # Queued even with no FEP-1b12 member: the outbox lists it, and its id is fetchable.
    await queue_activity(wrapped, group=group, inboxes=audience.wrapped, public=public)
    if not audience.boost:
        return
    if public:
        boost = builders.announce_boost(
            _derived_id(settings, "boost", group, obj["id"]),
            urls.actor,
            urls.followers,
            obj["id"],
            actor_of(activity) or "",
            _now(),
        )
        await queue_activity(boost, group=group, inboxes=audience.boost)
        return
    note = await _group_quote_note(settings, group, activity, obj)
    create = builders.create(_derived_id(settings, "create", group, obj["id"]), urls.actor, note)
    await queue_activity(create, group=group, inboxes=audience.boost)


async def _group_quote_note(
    settings: Settings, group: Group, activity: dict[str, Any], obj: dict[str, Any]
) -> dict[str, Any]:
    """The group's followers-only Note quoting a member's post (for microblog members)."""
    urls = group_urls(settings.base_url, group.name)
    author = actor_of(activity) or ""
    parent = in_reply_to(obj)
    parent_note = None
    if parent:
        # A reply threads under the group's own quote of its parent, which members can see.
        parent_row = await StoredObject.get_or_none(ap_id=parent)
        if parent_row is not None:
            parent_note = _derived_id(settings, "note", group, parent)
    note = builders.members_only_note(
        _derived_id(settings, "note", group, obj["id"]),
        urls.actor,
        urls.followers,
        author_url=author,
        author_handle=await _handle_of(author),
        original_url=id_of(obj.get("url")) or obj["id"],
        content_html=sanitize_html(obj.get("content") or ""),
        published=_now(),
        in_reply_to=parent_note,
    )
    await StoredObject.get_or_create(
        ap_id=note["id"],
        defaults={
            "type": "Note",
            "attributed_to": urls.actor,
            "group": group,
            "content_html": note["content"],
            "document": note,
        },
    )
    return note


async def _handle_of(actor_url: str) -> str:
    from ..storage.models import RemoteActor

    actor = await RemoteActor.get_or_none(url=actor_url)
    if actor is not None and actor.preferred_username:
        return f"@{actor.preferred_username}@{actor.host}"
    return actor_url


# -- what happens to a post later: edits, deletes, likes -------------------------------------


async def _post_by(actor: str, object_id: str | None) -> StoredObject:
    if not object_id:
        raise Refused("activity names no object")
    post = await StoredObject.get_or_none(ap_id=object_id)
    if post is None or post.group_id is None:
        raise Refused(f"{object_id} is not a post in a group here")
    if post.attributed_to != actor:
        raise Refused(f"{actor} is not the author of {object_id}")
    return post


async def receive_update(settings: Settings, fetcher: Fetcher, activity: dict[str, Any]) -> None:
    """The author edited a post: keep the new version and pass the edit on (FEP-1b12)."""
    actor = actor_of(activity) or ""
    obj = await resolve_object(fetcher, activity)
    post = await _post_by(actor, obj.get("id"))
    if post.deleted:
        raise Refused("edit of a deleted post")
    post.document = obj
    post.content_html = sanitize_html(obj.get("content") or "")
    await post.save(update_fields=["document", "content_html"])
    group = await Group.get(id=post.group_id)
    await _announce_wrapped_only(settings, group, activity)


async def receive_delete(settings: Settings, activity: dict[str, Any]) -> None:
    """The author deleted a post: remove it and withdraw what the group announced."""
    actor = actor_of(activity) or ""
    object_id = id_of(activity.get("object"))
    post = await StoredObject.get_or_none(ap_id=object_id or "")
    if post is None:
        if object_id and same_origin(object_id, actor):
            # Delete before Create (out of order): remember it so the Create is ignored.
            await StoredObject.create(
                ap_id=object_id,
                type="Tombstone",
                attributed_to=actor,
                document={},
                deleted=True,
            )
        raise Refused(f"delete of unknown {object_id}")
    post = await _post_by(actor, object_id)
    if post.deleted:
        return
    post.deleted, post.content_html = True, ""
    await post.save(update_fields=["deleted", "content_html"])
    group = await Group.get(id=post.group_id)
    urls = group_urls(settings.base_url, group.name)
    audience = await _announce_wrapped_only(settings, group, activity)
    if not audience.boost:
        return
    if group_is_public(group):
        boost_id = _derived_id(settings, "boost", group, post.ap_id)
        boost = await Activity.get_or_none(ap_id=boost_id)
        if boost is not None:
            withdraw = builders.undo(
                _derived_id(settings, "unboost", group, post.ap_id), urls.actor, boost.payload
            )
            await queue_activity(withdraw, group=group, inboxes=audience.boost)
        return
    note_id = _derived_id(settings, "note", group, post.ap_id)
    note = await StoredObject.get_or_none(ap_id=note_id)
    if note is not None and not note.deleted:
        note.deleted, note.content_html = True, ""
        await note.save(update_fields=["deleted", "content_html"])
        gone = builders.delete(
            _derived_id(settings, "delete-note", group, post.ap_id),
            urls.actor,
            note_id,
            [urls.followers],
        )
        await queue_activity(gone, group=group, inboxes=audience.boost)


async def receive_reaction(settings: Settings, activity: dict[str, Any]) -> None:
    """A member's Like/Dislike (or its Undo) of a group post: FEP-1b12 servers count votes
    from the group's Announce; microblogging servers get nothing (likes are between the
    liker and the author there, and the author's server was told directly)."""
    actor = actor_of(activity) or ""
    reaction = activity.get("object") if activity.get("type") == "Undo" else activity
    target = id_of(reaction.get("object")) if isinstance(reaction, dict) else None
    post = await StoredObject.get_or_none(ap_id=target or "")
    if post is None or post.group_id is None or post.deleted:
        raise Refused(f"reaction to {target}, which is not a post in a group here")
    group = await Group.get(id=post.group_id)
    await check_may_post(settings, group, actor, {"inReplyTo": target})
    await _announce_wrapped_only(settings, group, activity)


async def _announce_wrapped_only(
    settings: Settings, group: Group, activity: dict[str, Any]
) -> Audience:
    urls = group_urls(settings.base_url, group.name)
    audience = await audience_of(group)
    public = group_is_public(group)
    wrapped = builders.announce_wrapped(
        _derived_id(settings, "announce", group, activity["id"]),
        urls.actor,
        urls.followers,
        activity,
        public=public,
    )
    await queue_activity(wrapped, group=group, inboxes=audience.wrapped)
    return audience
