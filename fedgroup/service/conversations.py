"""Group conversations: members' posts stored and announced to every member's server.

Every id the group mints here is derived from what it announces (uuid5 of group and source
id), so processing the same inbound activity twice queues nothing twice: outbound queuing
is idempotent per id. That is what makes at-least-once inbound processing safe.

Activities also arrive out of order: an edit is kept only if it is newer than the version
held (activitypub.versions); a Delete before its Create leaves a tombstone (only from the
object's own origin) so the late Create is dropped; a Like before its post waits for it
(`Pending`) and is passed on when the post arrives, or dropped after `LATE_OBJECT_WAIT`.
Which thread a post joins is threads.py's question; polls' votes go to polls.py.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from ..activitypub import builders
from ..activitypub.actor_docs import actor_of
from ..activitypub.actors import group_urls
from ..activitypub.addressing import in_reply_to, local_groups_named, named_actors, recipients
from ..activitypub.events import event_times
from ..activitypub.fetch import FetchError, same_origin
from ..activitypub.polls import is_vote
from ..activitypub.posts import trimmed_post
from ..activitypub.sanitize import sanitize_html
from ..activitypub.shapes import Shape, shape_for
from ..activitypub.signed_fetch import Fetcher
from ..activitypub.versions import Order, compare_versions
from ..activitypub.vocab import has_type, id_of, is_public, link_url
from ..config import Settings
from ..policy import Treatment
from ..storage import sql
from ..storage.models import (
    Activity,
    ActivityState,
    Group,
    MembershipMode,
    MembershipState,
    StoredObject,
    Visibility,
)
from . import polls, threads
from .holding import hold_post
from .ids import derived_id
from .media_policy import as_shown
from .membership import is_banned, is_moderator
from .outbound import delivery_notifier, ld_signed, queue_activity
from .outcomes import Pending, Refused
from .policies import treatment_of
from .threads import POSTABLE_TYPES, Placement, post_type

log = logging.getLogger(__name__)

__all__ = ["POSTABLE_TYPES", "Pending", "Refused", "receive_post"]

# How long a Like (or Dislike) of a post we do not have yet waits for the post.
LATE_OBJECT_WAIT = timedelta(hours=1)


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


_AUDIENCE = (
    "SELECT a.host, a.shared_inbox, a.inbox, i.software FROM memberships m"
    " JOIN remote_actors a ON a.id = m.actor_id LEFT JOIN instances i ON i.host = a.host"
    " WHERE m.group_id = ? AND m.state = ?"
)


async def audience_of(group: Group) -> Audience:
    """Member inboxes (shared inbox per server), one shape per server, never two."""
    # Plain tuples from one joined query: a post to a big group must not build a model (and
    # parse the dates and documents) of every member and their actor.
    rows = await sql.fetch(_AUDIENCE, group.id, MembershipState.ACCEPTED.value)
    shapes: dict[Shape, dict[str, None]] = defaultdict(dict)
    for _host, shared_inbox, inbox, software in rows:
        shapes[shape_for(software)][shared_inbox or inbox] = None
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
    settings: Settings, activity: dict[str, Any], obj: dict[str, Any], placement: Placement
) -> list[Group]:
    """Our groups the post is for: addressed, mentioned, or answering a post in a group's
    thread (however far up its `inReplyTo` chain; threads.place found it)."""
    groups: dict[int, Group] = {}
    parent = placement.parent
    if parent is not None and parent.group_id is not None:
        # First: the post is stored once, in the thread of the group it answers into.
        groups[parent.group_id] = await Group.get(id=parent.group_id)
    names = local_groups_named(named_actors(activity, obj), settings.url("/groups/"))
    for group in await Group.filter(name__in=list(names)) if names else []:
        groups.setdefault(group.id, group)
    return list(groups.values())


def check_owned_by(actor: str, obj: dict[str, Any]) -> None:
    """A post is its author's: attributed to the actor (if it says), with its id on the
    actor's origin (nobody posts, edits or deletes under someone else's ids)."""
    author = id_of(obj.get("attributedTo"))
    if author is not None and author != actor:
        raise Refused(f"object attributed to {author}, not to the actor {actor}")
    if not same_origin(obj["id"], actor):
        raise Refused(f"object {obj['id']} is not on the origin of its author {actor}")


async def may_post_somewhere(settings: Settings, actor: str) -> bool:
    """Whether `actor` is a member of a group here (or strangers may post): only then may
    their post make us fetch its missing ancestors from other servers."""
    if settings.accept_non_members:
        return True
    return await sql.exists(_MEMBER_SOMEWHERE, actor, MembershipState.ACCEPTED.value)


_MEMBER_SOMEWHERE = (
    "SELECT 1 FROM memberships m JOIN remote_actors a ON a.id = m.actor_id"
    " WHERE a.url = ? AND m.state = ? LIMIT 1"
)
_MODERATOR_OR_MEMBER = (
    "SELECT EXISTS (SELECT 1 FROM moderators WHERE group_id = ? AND actor_url = ?),"
    " EXISTS (SELECT 1 FROM memberships m JOIN remote_actors a ON a.id = m.actor_id"
    " WHERE m.group_id = ? AND a.url = ? AND m.state = ?)"
)


async def check_may_post(
    settings: Settings, group: Group, actor: str, obj: dict[str, Any]
) -> Treatment:
    """Members post; others are refused quietly (open public groups may accept anyone), as
    is anyone from a domain suspended in the group. Returns how the actor's domain is
    treated in the group (its posts may be held, its media dropped)."""
    treatment = await treatment_of(settings, actor, group)
    if treatment.suspended:
        raise Refused(f"{actor}'s domain is {treatment.why}")
    if await is_banned(group, actor):
        raise Refused(f"{actor} is banned from {group.name}")
    [(moderator, member)] = await sql.fetch(
        _MODERATOR_OR_MEMBER, group.id, actor, group.id, actor, MembershipState.ACCEPTED.value
    )
    if moderator:
        return treatment  # moderators post, also where posting is restricted to them
    open_to_all = (
        settings.accept_non_members
        and group_is_public(group)
        and group.membership_mode == MembershipMode.OPEN
    )
    if not (member or open_to_all):
        raise Refused(f"{actor} is not a member of {group.name}")
    if group.posting_restricted_to_mods and not in_reply_to(obj):
        raise Refused(f"{group.name} accepts top-level posts from moderators only")
    return treatment


async def receive_post(settings: Settings, fetcher: Fetcher, activity: dict[str, Any]) -> list[str]:
    """A member's Create: store the post and announce it in each group it is for.

    Returns the names of the groups that announced it; raises Refused when none did.
    """
    actor = actor_of(activity) or ""
    obj = await resolve_object(fetcher, activity)
    if post_type(obj) is None:
        raise Refused(f"{obj.get('type')!r} objects are not posted to groups")
    check_owned_by(actor, obj)
    if is_vote(obj):
        await polls.receive_vote(settings, fetcher, activity, obj)
        return []
    # Only a reply can make us fetch (its missing ancestors); a top-level post skips the query.
    may_fetch = in_reply_to(obj) is not None and await may_post_somewhere(settings, actor)
    placement = await threads.place(fetcher, obj, fetch=may_fetch)
    groups = await groups_addressed(settings, activity, obj, placement)
    if not groups:
        raise Refused("not addressed to a group here")
    announced, held, reasons = [], [], []
    for group in groups:
        try:
            treatment = await check_may_post(settings, group, actor, obj)
            await _check_thread_open(group, actor, placement)
            if treatment.silenced and not await is_moderator(group, actor):
                # A limited domain's post waits for a moderator (held.approve_held).
                await hold_post(group, activity, obj, f"from a domain {treatment.why}")
                held.append(group.name)
                continue
            shown, shown_obj = as_shown(activity, obj, treatment)
            post = await _store_post(group, actor, shown_obj, placement)
        except Refused as refusal:
            log.info("post %s refused: %s", obj.get("id"), refusal)
            reasons.append(str(refusal))
            continue
        # Announcing again after a crash is safe: the derived ids make queuing idempotent.
        await announce_post(settings, group, shown, shown_obj, post)
        announced.append(group.name)
    if not announced:
        if held:
            return []
        raise Refused("; ".join(reasons))
    await wake_waiting_for(obj["id"])
    return announced


async def _check_thread_open(group: Group, actor: str, placement: Placement) -> None:
    """Replies to a locked post, or anywhere under it, are refused (moderators may still
    answer, as on Lemmy)."""
    parent = placement.parent
    if parent is None or parent.group_id != group.id:
        return
    if await threads.thread_is_locked(parent) and not await is_moderator(group, actor):
        raise Refused(f"the thread of {parent.ap_id} is locked in {group.name}")


async def publish_approved(
    settings: Settings,
    fetcher: Fetcher,
    group: Group,
    activity: dict[str, Any],
    obj: dict[str, Any],
) -> StoredObject:
    """A post a moderator let through (it was held): stored in its thread and announced to
    every member exactly as it would have been on arrival. Its author may have been banned
    meanwhile, or the post deleted: then it is Refused."""
    actor = actor_of(activity) or ""
    treatment = await treatment_of(settings, actor, group)
    if treatment.suspended:
        raise Refused(f"{actor}'s domain is {treatment.why}")
    if await is_banned(group, actor):
        raise Refused(f"{actor} is banned from {group.name}")
    activity, obj = as_shown(activity, obj, treatment)
    placement = await threads.place(fetcher, obj, fetch=True)
    post = await _store_post(group, actor, obj, placement)
    await announce_post(settings, group, activity, obj, post)
    await wake_waiting_for(obj["id"])
    return post


async def _store_post(
    group: Group, actor: str, obj: dict[str, Any], placement: Placement
) -> StoredObject:
    """The post as stored (once, in its thread); Refused if it was deleted, even before it
    arrived, or if its id belongs to someone else already."""
    existing = await StoredObject.get_or_none(ap_id=obj["id"])
    if existing is not None:
        if existing.deleted:
            raise Refused(f"{obj['id']} was deleted")
        if existing.attributed_to != actor:
            raise Refused(f"{obj['id']} belongs to {existing.attributed_to}")
        if existing.group_id is not None:
            return existing
    return await threads.store_in_thread(group, actor, obj, placement)


async def wake_waiting_for(object_id: str) -> None:
    """Activities waiting for this object (a Like that came first) are due now."""
    now = datetime.now(UTC)
    await Activity.filter(
        inbound=True, state=ActivityState.RECEIVED, object_id=object_id, process_after__gt=now
    ).update(process_after=now)


async def announce_post(
    settings: Settings,
    group: Group,
    activity: dict[str, Any],
    obj: dict[str, Any],
    post: StoredObject,
) -> None:
    """Announce a new post to every member server, in the shape its software shows, under
    its thread's `context`."""
    urls = group_urls(settings.base_url, group.name)
    audience = await audience_of(group)
    public = group_is_public(group) and is_public(recipients(activity, obj))
    context = threads.context_of(settings, group, post)
    wrapped = builders.announce_wrapped(
        _derived_id(settings, "announce", group, activity["id"]),
        urls.actor,
        urls.followers,
        activity,
        public=public,
        context=context,
    )
    # Queued even with no FEP-1b12 member: the outbox lists it, and its id is fetchable.
    outgoing = [(wrapped, audience.wrapped, public)]
    if audience.boost and public:
        boost = builders.announce_boost(
            _derived_id(settings, "boost", group, obj["id"]),
            urls.actor,
            urls.followers,
            obj["id"],
            actor_of(activity) or "",
            _now(),
            context=context,
        )
        outgoing.append((boost, audience.boost, False))
    elif audience.boost:
        note = await _group_quote_note(settings, group, activity, obj, post)
        create = builders.create(
            _derived_id(settings, "create", group, obj["id"]), urls.actor, note
        )
        outgoing.append((create, audience.boost, False))
    # Signed first (in the JSON-LD worker), then queued in one transaction: one commit for
    # the post's announces, and no database lock held while a signature is made.
    signed = [(await ld_signed(payload, group), inboxes, pub) for payload, inboxes, pub in outgoing]
    async with in_transaction():
        for payload, inboxes, pub in signed:
            await queue_activity(payload, group=group, inboxes=inboxes, public=pub)
        if public and post.announce_id is None:
            post.announce_id = wrapped["id"]
            await post.save(update_fields=["announce_id"])
    delivery_notifier.notify()  # again, now that the transaction is committed (PostgreSQL)


async def _group_quote_note(
    settings: Settings,
    group: Group,
    activity: dict[str, Any],
    obj: dict[str, Any],
    post: StoredObject,
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
        original_url=link_url(obj.get("url")) or obj["id"],
        content_html=sanitize_html(obj.get("content") or ""),
        published=_now(),
        in_reply_to=parent_note,
        context=threads.context_of(settings, group, post),
        replies=urls.replies(post.id),
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
    """The author edited a post (or a poll's results changed): keep the new version if it
    is newer than ours and pass the edit on (FEP-1b12); an older one is dropped."""
    actor = actor_of(activity) or ""
    obj = await resolve_object(fetcher, activity)
    post = await _post_by(actor, obj.get("id"))
    check_owned_by(actor, obj)  # the new version may not name another author
    group = await Group.get(id=post.group_id)
    activity, obj = as_shown(activity, obj, await treatment_of(settings, actor, group))
    if post.deleted:
        raise Refused("edit of a deleted post")
    if post.removed:
        raise Refused(f"edit of {post.ap_id}, which a moderator removed")
    order = compare_versions(post.document, obj)
    if order is Order.OLDER:
        raise Refused(f"edit of {post.ap_id} is not newer than the version held")
    if order is Order.NEWER:
        times = event_times(obj)
        post.document = trimmed_post(obj)
        post.content_html = sanitize_html(obj.get("content") or "")
        post.starts_at = times.starts_at if times else None
        post.ends_at = times.ends_at if times else None
        await post.save(update_fields=["document", "content_html", "starts_at", "ends_at"])
    # The same version again (a replay after a crash) is announced again under the same id.
    listed = group_is_public(group) and is_public(recipients(obj))
    wrapped = await _announce_wrapped_only(settings, group, activity, post, listed=listed)
    if post.announce_id is not None and listed:
        # The outbox now offers the edited version (Lemmy reads Update{Page} like a Create).
        post.announce_id = wrapped
        await post.save(update_fields=["announce_id"])


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
    await _announce_wrapped_only(settings, group, activity, post)
    await withdraw_from_microblogs(settings, group, post)


async def receive_undelete(settings: Settings, undo: dict[str, Any]) -> None:
    """The author undid their Delete of a post (Lemmy's "restore"): the post is back, as it
    was when deleted, and the Undo is passed on (FEP-1b12); microblogging members, whose
    boost the Delete undid, are boosted the post again.

    Only the author's own deletion is undone here (a moderator's is `receive_restore`'s),
    and only of a post we hold deleted. A Delete that came before its Create left a bare
    tombstone: its Undo lifts it, so the Create may still arrive."""
    actor = actor_of(undo) or ""
    object_id = id_of(undo["object"].get("object"))
    post = await StoredObject.get_or_none(ap_id=object_id or "")
    if post is not None and post.group_id is None and post.type == "Tombstone":
        if post.attributed_to != actor:
            raise Refused(f"{actor} is not the author of {object_id}")
        await post.delete()
        return
    post = await _post_by(actor, object_id)
    if not post.deleted:
        raise Refused(f"{post.ap_id} is not deleted")
    post.deleted = False
    post.content_html = sanitize_html(post.document.get("content") or "")
    await post.save(update_fields=["deleted", "content_html"])
    group = await Group.get(id=post.group_id)
    await _announce_wrapped_only(settings, group, undo, post)
    if not post.removed:
        await boost_again(settings, group, post)


async def latest_boost(group: Group, post: StoredObject) -> Activity | None:
    """The group's latest boost of a post (a restored post is boosted again, anew)."""
    return (
        await Activity.filter(inbound=False, group=group, type="Announce", object_id=post.ap_id)
        .order_by("-id")
        .first()
    )


async def boost_again(settings: Settings, group: Group, post: StoredObject) -> None:
    """Boost a restored post to microblogging members of a public group, under a new id
    (Mastodon keeps an undone boost's id as gone)."""
    audience = await audience_of(group)
    if not audience.boost or not group_is_public(group) or not is_public(recipients(post.document)):
        return
    urls = group_urls(settings.base_url, group.name)
    count = await Activity.filter(
        inbound=False, group=group, type="Announce", object_id=post.ap_id
    ).count()
    boost = builders.announce_boost(
        _derived_id(settings, "reboost", group, f"{post.ap_id}#{count}"),
        urls.actor,
        urls.followers,
        post.ap_id,
        post.attributed_to,
        _now(),
        context=threads.context_of(settings, group, post),
    )
    await queue_activity(boost, group=group, inboxes=audience.boost)


async def withdraw_from_microblogs(settings: Settings, group: Group, post: StoredObject) -> None:
    """Take back what microblogging members were shown of a post (deleted by its author,
    removed by a moderator): the boost is undone, or the group's quote of it deleted."""
    urls = group_urls(settings.base_url, group.name)
    audience = await audience_of(group)
    if not audience.boost:
        return
    if group_is_public(group):
        boost = await latest_boost(group, post)
        if boost is not None:
            withdraw = builders.undo(
                _derived_id(settings, "unboost", group, boost.ap_id), urls.actor, boost.payload
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
    liker and the author there, and the author's server was told directly).

    A reaction to a post we do not have yet is `Pending` (the inbound queue keeps it until
    the post arrives or `LATE_OBJECT_WAIT` passes); one undone meanwhile is dropped."""
    actor = actor_of(activity) or ""
    undo = has_type(activity, "Undo")
    reaction = activity.get("object") if undo else activity
    target = id_of(reaction.get("object")) if isinstance(reaction, dict) else None
    post = await StoredObject.get_or_none(ap_id=target or "")
    if post is None and target and not undo:
        if await Activity.exists(inbound=True, type="Undo", actor=actor, object_id=activity["id"]):
            raise Refused(f"reaction to {target} was undone before the post arrived")
        raise Pending(f"reaction to {target}, which has not arrived here yet")
    if post is None or post.group_id is None or post.deleted or post.removed:
        raise Refused(f"reaction to {target}, which is not a post in a group here")
    group = await Group.get(id=post.group_id)
    await check_may_post(settings, group, actor, {"inReplyTo": target})
    await _announce_wrapped_only(settings, group, activity, post)


async def _announce_wrapped_only(
    settings: Settings,
    group: Group,
    activity: dict[str, Any],
    post: StoredObject,
    *,
    listed: bool = False,
) -> str:
    """Announce a member's activity about `post` to FEP-1b12 members; returns its id.
    `listed`: a public edit of a public post, which the outbox may offer."""
    urls = group_urls(settings.base_url, group.name)
    audience = await audience_of(group)
    public = group_is_public(group)
    wrapped = builders.announce_wrapped(
        _derived_id(settings, "announce", group, activity["id"]),
        urls.actor,
        urls.followers,
        activity,
        public=public,
        context=threads.context_of(settings, group, post),
    )
    await queue_activity(wrapped, group=group, inboxes=audience.wrapped, public=listed)
    return wrapped["id"]
