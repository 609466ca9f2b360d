"""Threads: which conversation a post belongs to, and the collections a new member reads.

Every post the group holds belongs to one thread, numbered by the local id of its first post
here. A reply joins the thread of the nearest post it answers that is in a group here, even
when it names no group (a reply to a reply that only mentions the parent's author): when the
parent is not here, its `inReplyTo` chain is fetched from each post's own origin, through
the one guarded Fetcher, within a budget (`MAX_ANCESTOR_FETCHES` documents, `ANCESTOR_SECONDS`
in all). The posts fetched on the way are kept in the thread, so it reads whole; they are not
announced, since nobody posted them to the group.

A thread's `context` (FEP-7888), which the group puts on everything it announces in it, is
the group's own thread collection, unless the thread's first post came with a `context` we
can trust: an http(s) URL on the same origin as that post's id (which is on its author's
origin, verified by a signature or by fetching it there), that no other thread here already
uses. A reply's own `context` is never taken: it cannot move a post into another thread,
nor name a thread for others.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from ..activitypub.actors import group_urls
from ..activitypub.addressing import in_reply_to
from ..activitypub.events import event_times
from ..activitypub.fetch import FetchError
from ..activitypub.hosts import same_origin
from ..activitypub.posts import trimmed_post
from ..activitypub.sanitize import sanitize_html
from ..activitypub.signed_fetch import Fetcher
from ..activitypub.versions import parse_time
from ..activitypub.vocab import http_url, id_of, type_in
from ..config import Settings
from ..storage.models import Activity, Group, StoredObject
from .reading import is_public_post

log = logging.getLogger(__name__)

POSTABLE_TYPES = frozenset(
    {"Note", "Page", "Article", "Question", "Event", "Image", "Video", "Audio", "Document"}
)
MAX_ANCESTOR_FETCHES = 8
ANCESTOR_SECONDS = 20.0
THREAD_PAGE_SIZE = 50
MAX_LISTED = 5000  # posts of one thread (or answers to one post) a collection lists at most


@dataclass(frozen=True)
class Placement:
    """Where a new post goes: under `parent` (a post in a group here), after `fetched`
    (its missing ancestors, oldest first); or, with no parent, it starts a thread."""

    parent: StoredObject | None = None
    fetched: list[dict[str, Any]] = field(default_factory=list)


def post_type(obj: dict[str, Any]) -> str | None:
    """The type we handle a post as (`type` is a set in JSON-LD), if it is a post at all."""
    return type_in(obj, POSTABLE_TYPES)


def published_of(doc: dict[str, Any], now: datetime | None = None) -> datetime:
    """When the author says the post was written, never later than now (a post from the
    future would sit at the end of every thread for good)."""
    now = now or datetime.now(UTC)
    said = parse_time(doc.get("published"))
    return min(said, now) if said is not None else now


async def _fetch_ancestor(fetcher: Fetcher, object_id: str) -> dict[str, Any] | None:
    """A missing parent, as its origin serves it, if it is a post by someone on its origin."""
    if not http_url(object_id):
        return None
    try:
        doc = await fetcher.get_document(object_id)
    except FetchError as exc:
        log.info("thread ancestor %s not fetched: %s", object_id, exc.reason)
        return None
    author = id_of(doc.get("attributedTo"))
    if post_type(doc) is None or not http_url(author) or not same_origin(author, doc["id"]):
        return None
    return doc


async def place(fetcher: Fetcher, obj: dict[str, Any], *, fetch: bool = True) -> Placement:
    """Find the thread a post answers into (see the module docstring for the budget).
    Without `fetch`, only posts already here count (for senders who may not post anywhere
    here: their replies must not cost us requests to other servers)."""
    parent_id = in_reply_to(obj)
    seen = {obj.get("id")}
    fetched: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(ANCESTOR_SECONDS):
            while parent_id and parent_id not in seen:
                seen.add(parent_id)
                row = await StoredObject.get_or_none(ap_id=parent_id)
                if row is not None:
                    if row.group_id is None or row.thread_id is None:
                        break  # a tombstone (deleted before it reached us): no thread
                    return Placement(parent=row, fetched=fetched[::-1])
                if not fetch or len(fetched) >= MAX_ANCESTOR_FETCHES:
                    break
                doc = await _fetch_ancestor(fetcher, parent_id)
                if doc is None:
                    break
                fetched.append(doc)
                parent_id = in_reply_to(doc)
    except TimeoutError:
        log.info("thread of %s: ancestors not found within %ss", obj.get("id"), ANCESTOR_SECONDS)
    return Placement()


MAX_LOCK_DEPTH = 64  # ancestors looked at for a lock (threads this deep are rare)


async def thread_is_locked(post: StoredObject) -> bool:
    """Whether replies under `post` are refused: it, one of the posts it answers, or the
    first post of its thread is locked (Lemmy locks a post with all its comments, and a
    comment with the answers under it)."""
    if post.locked:
        return True
    if post.thread_id is None or post.thread_id == post.id:
        return False
    if await StoredObject.exists(id=post.thread_id, locked=True):
        return True
    if not await StoredObject.exists(group_id=post.group_id, thread_id=post.thread_id, locked=True):
        return False
    parent, seen = post.in_reply_to, {post.ap_id}
    for _ in range(MAX_LOCK_DEPTH):
        if not parent or parent in seen:
            return False
        seen.add(parent)
        row = await StoredObject.get_or_none(ap_id=parent, group_id=post.group_id)
        if row is None:
            return False
        if row.locked:
            return True
        parent = row.in_reply_to
    return False


def thread_url(settings: Settings, group: Group, thread_id: int) -> str:
    return group_urls(settings.base_url, group.name).thread(thread_id)


def context_of(settings: Settings, group: Group, row: StoredObject) -> str | None:
    """The `context` the group announces a post under: its thread's."""
    if row.context:
        return row.context
    return thread_url(settings, group, row.thread_id) if row.thread_id else None


async def _trusted_root_context(group: Group, obj: dict[str, Any]) -> str | None:
    declared = http_url(id_of(obj.get("context")))
    if declared is None or not same_origin(declared, obj["id"]):
        return None
    if await StoredObject.exists(group=group, context=declared):
        return None  # another thread here already goes by it
    return declared


async def _insert_once(**values: Any) -> StoredObject:
    """Store an object, or take the row another handler stored first (handlers run
    concurrently for unrelated activities and may meet at a shared ancestor)."""
    existing = await StoredObject.get_or_none(ap_id=values["ap_id"])
    if existing is not None:
        return existing
    try:
        if StoredObject._meta.db.capabilities.dialect != "postgres":
            return await StoredObject.create(**values)  # a failed insert fails alone
        async with in_transaction():  # a savepoint: on PostgreSQL a failed insert would
            return await StoredObject.create(**values)  # otherwise void the transaction
    except IntegrityError:
        return await StoredObject.get(ap_id=values["ap_id"])


def _row_values(group: Group, author: str, obj: dict[str, Any]) -> dict[str, Any]:
    times = event_times(obj)
    return {
        "ap_id": obj["id"],
        "type": (post_type(obj) or "Note")[:32],
        "attributed_to": author,
        "group": group,
        "in_reply_to": (in_reply_to(obj) or "")[:2048] or None,
        "content_html": sanitize_html(obj.get("content") or ""),
        "document": trimmed_post(obj),
        "published": published_of(obj),
        "starts_at": times.starts_at if times else None,
        "ends_at": times.ends_at if times else None,
    }


async def store_in_thread(
    group: Group, author: str, obj: dict[str, Any], placement: Placement
) -> StoredObject:
    """Store a new post (and the ancestors fetched for it) in its thread in `group`, in one
    transaction: one commit for the rows and their places in the thread."""
    parent = placement.parent
    if parent is not None and parent.group_id != group.id:
        parent = None  # the thread is another group's: here the post starts its own
    # Read before the transaction: inside it, every read holds the database for the others.
    root_context = None if parent is not None else await _trusted_root_context(group, obj)
    async with in_transaction():
        return await _store_in_thread(group, author, obj, parent, placement, root_context)


async def _store_in_thread(
    group: Group,
    author: str,
    obj: dict[str, Any],
    parent: StoredObject | None,
    placement: Placement,
    root_context: str | None,
) -> StoredObject:
    if parent is not None:
        for doc in placement.fetched:
            ancestor = await _insert_once(
                **_row_values(group, id_of(doc.get("attributedTo")) or "", doc),
                thread_id=parent.thread_id,
                context=parent.context,
            )
            if ancestor.thread_id is None:
                await _join(ancestor, parent.thread_id, parent.context)
        return await _insert_once(
            **_row_values(group, author, obj), thread_id=parent.thread_id, context=parent.context
        )
    row = await _insert_once(**_row_values(group, author, obj))
    if row.thread_id is None:
        await _join(row, row.id, root_context)
    return row


async def _join(row: StoredObject, thread_id: int | None, context: str | None) -> None:
    row.thread_id, row.context = thread_id, context
    await row.save(update_fields=["thread_id", "context"])


# -- what a new member's server reads --------------------------------------------------------


@dataclass(frozen=True)
class ThreadPage:
    """One page of a thread's posts (ids, oldest first), and whether more follow."""

    root: StoredObject
    total: int
    items: list[str]
    has_next: bool


async def thread_posts(
    group: Group, thread_id: int, *, page: int, public_only: bool
) -> ThreadPage | None:
    """The posts of one thread in `group`, chronological; None if there is no such thread.
    Deleted posts are left out; `public_only` leaves out what its author never made public."""
    root = await StoredObject.get_or_none(group=group, id=thread_id, thread_id=thread_id)
    if root is None:
        return None
    posts = StoredObject.filter(group=group, thread_id=thread_id, deleted=False, removed=False)
    return await _page_of(root, posts, page=page, public_only=public_only)


async def direct_replies(
    group: Group, post_id: int, *, page: int, public_only: bool
) -> ThreadPage | None:
    """The answers to one post of `group`, oldest first; None if there is no such post."""
    post = await StoredObject.get_or_none(group=group, id=post_id)
    if post is None or post.thread_id is None:
        return None
    answers = StoredObject.filter(group=group, in_reply_to=post.ap_id, deleted=False, removed=False)
    return await _page_of(post, answers, page=page, public_only=public_only)


async def _page_of(root: StoredObject, posts: Any, *, page: int, public_only: bool) -> ThreadPage:
    rows = await posts.order_by("published", "id").limit(MAX_LISTED)
    shown = [r.ap_id for r in rows if not public_only or is_public_post(r)]
    start = (page - 1) * THREAD_PAGE_SIZE
    return ThreadPage(
        root=root,
        total=len(shown),
        items=shown[start : start + THREAD_PAGE_SIZE],
        has_next=len(shown) > start + THREAD_PAGE_SIZE,
    )


@dataclass(frozen=True)
class OutboxPage:
    total: int
    items: list[dict[str, Any]]
    has_next: bool


async def announced_posts(group: Group, *, page: int, size: int) -> OutboxPage:
    """The group's outbox: for each conversation it started publicly and still holds, newest
    first, its latest wrapped Announce (of the Create, or of the last edit's Update). That
    is the `Announce{Create{Page}}` a newly following Lemmy reads from the first page (it
    takes the first 10 to 50 items and no others); replies, votes and deletes are left out
    so those items are posts."""
    listed = StoredObject.filter(
        group=group,
        in_reply_to__isnull=True,
        deleted=False,
        removed=False,
        announce_id__isnull=False,
    )
    total = await listed.count()
    rows = await listed.order_by("-id").offset((page - 1) * size).limit(size + 1)
    wanted = [r.announce_id for r in rows[:size]]
    found = {
        a.ap_id: a.payload
        for a in await Activity.filter(ap_id__in=wanted, inbound=False, public=True)
    }
    items = [found[ap_id] for ap_id in wanted if ap_id in found]
    return OutboxPage(total=total, items=items, has_next=len(rows) > size)
