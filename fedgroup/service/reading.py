"""What a visitor may read of this server's groups, one function per thing a page shows.

Only public content of public groups is ever returned: a members-only group's posts, and a
public group's posts that were never public (a followers-only status that mentioned the
group), are for members' servers alone (see access.py). Everything here reads; nothing a
visitor does writes a row.

A group's moderators, its pinned posts and (when the group chooses to publish it) its
moderation log each have one function here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Q

from ..activitypub.addressing import recipients
from ..activitypub.events import location_text
from ..activitypub.vocab import as_list, has_type, http_url, is_public, link_url, type_in
from ..storage.models import (
    Group,
    Membership,
    MembershipState,
    Moderator,
    ModlogEntry,
    RemoteActor,
    StoredObject,
    Visibility,
)

GROUPS_PER_PAGE = 30
UPCOMING_EVENTS = 100
THREADS_PER_PAGE = 20
MAX_THREAD_POSTS = 500
MAX_THREAD_DEPTH = 12
MAX_ANCESTORS = 12
_SCAN_BATCH = 50
_SCAN_BATCHES = 6
_MAX_QUERY = 100


@dataclass(frozen=True)
class ListedGroup:
    name: str
    display_name: str
    summary: str
    members: int
    has_icon: bool


@dataclass(frozen=True)
class GroupListing:
    groups: list[ListedGroup]
    total: int
    page: int
    pages: int
    query: str


@dataclass(frozen=True)
class Author:
    name: str
    handle: str | None
    url: str


@dataclass(frozen=True)
class Attachment:
    url: str
    label: str
    kind: str  # "image", "video", "audio" or "file"


@dataclass
class PostView:
    """One post as a page shows it; `content_html` is sanitized again at rendering."""

    id: int
    ap_id: str
    author: Author
    content_html: str
    title: str | None = None
    warning: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    original_url: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    deleted: bool = False
    removed: bool = False  # by a moderator (deleted is then true as well: nothing to show)
    reply_count: int = 0
    replies: list[PostView] = field(default_factory=list)


@dataclass(frozen=True)
class Thread:
    """A post with the posts it answers (oldest first) and every public answer under it."""

    post: PostView
    ancestors: list[PostView]
    parent_elsewhere: str | None  # it answers a post we do not hold (or may not show)
    reply_total: int


@dataclass(frozen=True)
class EventView:
    """An upcoming event as a page, the events collection and the calendar feed show it."""

    id: int
    ap_id: str
    title: str
    starts_at: datetime
    ends_at: datetime | None
    location: str | None
    url: str
    description_html: str
    organizer: Author
    updated: datetime | None


def shows_content(group: Group) -> bool:
    """Whether a group's posts appear on pages at all: public groups only."""
    return group.visibility == Visibility.PUBLIC


def is_public_post(row: StoredObject) -> bool:
    """A post anyone may read: addressed to Public by its author. The one test pages use."""
    return bool(row.document) and is_public(recipients(row.document))


def _readable(row: StoredObject) -> bool:
    return not gone(row) and is_public_post(row)


def gone(row: StoredObject) -> bool:
    """Deleted by its author or removed by a moderator: shown as a placeholder at most."""
    return row.deleted or row.removed


# -- the front page ------------------------------------------------------------------------


def listing_query(raw: str) -> str:
    """The search text as we use it: trimmed, one space between words, bounded."""
    return " ".join(raw.split())[:_MAX_QUERY]


async def listed_groups(query: str = "", page: int = 1) -> GroupListing:
    """Public, discoverable groups whose name, title or description has every word of
    `query` (case-insensitive), busiest first."""
    query = listing_query(query)
    groups = Group.filter(visibility=Visibility.PUBLIC, discoverable=True)
    for word in query.split(" ") if query else []:
        groups = groups.filter(
            Q(name__icontains=word) | Q(display_name__icontains=word) | Q(summary__icontains=word)
        )
    total = await groups.count()
    pages = max(1, -(-total // GROUPS_PER_PAGE))
    page = min(max(page, 1), pages)
    rows = await groups.order_by("name").offset((page - 1) * GROUPS_PER_PAGE).limit(GROUPS_PER_PAGE)
    counts = await _member_counts([g.id for g in rows])
    listed = [
        ListedGroup(
            name=g.name,
            display_name=g.display_name or g.name,
            summary=g.summary,
            members=counts.get(g.id, 0),
            has_icon=bool(g.icon_media_type),
        )
        for g in rows
    ]
    listed.sort(key=lambda g: (-g.members, g.name))
    return GroupListing(groups=listed, total=total, page=page, pages=pages, query=query)


async def _member_counts(group_ids: list[int]) -> dict[int, int]:
    if not group_ids:
        return {}
    rows = await Membership.filter(
        group_id__in=group_ids, state=MembershipState.ACCEPTED
    ).values_list("group_id", flat=True)
    counts: dict[int, int] = {}
    for group_id in rows:
        counts[group_id] = counts.get(group_id, 0) + 1
    return counts


# -- a group's page ------------------------------------------------------------------------


async def member_count(group: Group) -> int:
    """Accepted members: the number every public group shows (never who they are)."""
    return await Membership.filter(group=group, state=MembershipState.ACCEPTED).count()


async def recent_threads(
    group: Group, *, before: int | None = None, limit: int = THREADS_PER_PAGE
) -> tuple[list[PostView], int | None]:
    """The newest public conversation starters (older than post id `before`), each with
    its number of public replies, and the id to continue from (None at the end)."""
    if not shows_content(group):
        return [], None
    found: list[StoredObject] = []
    cursor = before
    exhausted = False
    for _batch in range(_SCAN_BATCHES):
        rows = StoredObject.filter(
            group=group, in_reply_to__isnull=True, deleted=False, removed=False
        )
        if cursor is not None:
            rows = rows.filter(id__lt=cursor)
        batch = await rows.order_by("-id").limit(_SCAN_BATCH)
        found.extend(r for r in batch if is_public_post(r))
        if len(batch) < _SCAN_BATCH:
            exhausted = True
            break
        cursor = batch[-1].id
        if len(found) > limit:
            break
    shown = found[:limit]
    more = len(found) > limit or not exhausted
    views = await _views(shown)
    trees = await _public_descendants(group, [v.ap_id for v in views])
    for view in views:
        view.reply_count = _count(trees.get(view.ap_id, []))
    next_before = shown[-1].id if shown and more else None
    return views, next_before


# -- a post's page -------------------------------------------------------------------------


async def thread_around(group: Group, post_id: int) -> Thread | None:
    """The post `post_id` of `group` with its context, or None when it is not ours to show
    (another group's, members-only, never public, or gone)."""
    if not shows_content(group):
        return None
    row = await StoredObject.get_or_none(id=post_id, group=group)
    if row is None or not _readable(row):
        return None
    ancestors: list[StoredObject] = []
    parent_elsewhere = None
    parent_id = row.in_reply_to
    seen = {row.ap_id}
    while parent_id and len(ancestors) < MAX_ANCESTORS and parent_id not in seen:
        seen.add(parent_id)
        parent = await StoredObject.get_or_none(ap_id=parent_id, group=group)
        if parent is None or not _readable(parent):
            parent_elsewhere = http_url(parent_id) if parent is None else None
            break
        ancestors.append(parent)
        parent_id = parent.in_reply_to
    ancestors.reverse()
    post, *earlier = await _views([row, *ancestors])
    post.replies = (await _public_descendants(group, [row.ap_id])).get(row.ap_id, [])
    return Thread(
        post=post,
        ancestors=earlier,
        parent_elsewhere=parent_elsewhere,
        reply_total=_count(post.replies),
    )


async def _public_descendants(group: Group, roots: list[str]) -> dict[str, list[PostView]]:
    """The public answers under each root, as trees (oldest first at each level), one query
    per level for all roots together. A non-public answer is left out with everything under
    it; a deleted one stays as a placeholder when public answers hang under it."""
    children: dict[str, list[StoredObject]] = {}
    level = list(roots)
    fetched = 0
    for _depth in range(MAX_THREAD_DEPTH):
        if not level or fetched >= MAX_THREAD_POSTS:
            break
        rows = (
            await StoredObject.filter(group=group, in_reply_to__in=level)
            .order_by("id")
            .limit(MAX_THREAD_POSTS - fetched)
        )
        fetched += len(rows)
        level = []
        for r in rows:
            if gone(r) or is_public_post(r):
                children.setdefault(r.in_reply_to or "", []).append(r)
                level.append(r.ap_id)
    every = [r for rows in children.values() for r in rows]
    views = {v.ap_id: v for v in await _views(every)}

    def build(parent: str, seen: frozenset[str]) -> list[PostView]:
        built = []
        for r in children.get(parent, []):
            if r.ap_id in seen:
                continue
            view = views[r.ap_id]
            view.replies = build(r.ap_id, seen | {r.ap_id})
            if gone(r) and not view.replies:
                continue
            built.append(view)
        return built

    return {root: build(root, frozenset({root})) for root in roots}


def _count(tree: list[PostView]) -> int:
    return sum((0 if v.deleted else 1) + _count(v.replies) for v in tree)


# -- turning stored objects into what a page shows -----------------------------------------


async def _views(rows: list[StoredObject]) -> list[PostView]:
    authors = await _authors({r.attributed_to for r in rows})
    return [
        _view(r, authors.get(r.attributed_to) or _unknown_author(r.attributed_to)) for r in rows
    ]


async def _authors(urls: set[str]) -> dict[str, Author]:
    if not urls:
        return {}
    actors = await RemoteActor.filter(url__in=list(urls))
    return {a.url: _author(a) for a in actors}


def _author(actor: RemoteActor) -> Author:
    doc = actor.document if isinstance(actor.document, dict) else {}
    name = doc.get("name") if isinstance(doc.get("name"), str) else None
    handle = f"@{actor.preferred_username}@{actor.host}" if actor.preferred_username else None
    profile = link_url(doc.get("url")) or actor.url
    return Author(
        name=(name or "").strip()[:200] or (handle or actor.url), handle=handle, url=profile
    )


def _unknown_author(url: str) -> Author:
    return Author(name=url, handle=None, url=url)


def _view(row: StoredObject, author: Author) -> PostView:
    doc: dict[str, Any] = row.document if isinstance(row.document, dict) else {}
    if gone(row):
        return PostView(
            id=row.id,
            ap_id=row.ap_id,
            author=author,
            content_html="",
            deleted=True,
            removed=row.removed and not row.deleted,
        )
    title = _text(doc.get("name"), 300)
    warning = _text(doc.get("summary"), 500) if not has_type(doc, "Page") else None
    return PostView(
        id=row.id,
        ap_id=row.ap_id,
        author=author,
        content_html=row.content_html,
        title=title,
        warning=warning or (None if not doc.get("sensitive") else ""),
        published=_time(doc.get("published")) or row.created_at,
        updated=_time(doc.get("updated")),
        original_url=link_url(doc.get("url")) or http_url(row.ap_id),
        attachments=_attachments(doc.get("attachment")),
    )


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


_KINDS = {"image": "image", "video": "video", "audio": "audio"}


def _attachments(value: Any) -> list[Attachment]:
    """Links to what a post carries; pages never load remote media (privacy, data costs)."""
    found = []
    for item in as_list(value)[:20]:
        if not isinstance(item, dict):
            continue
        url = link_url(item.get("url")) or http_url(item.get("href"))
        if url is None:
            continue
        media_type = item.get("mediaType") if isinstance(item.get("mediaType"), str) else ""
        kind = _KINDS.get(media_type.split("/")[0], "file")
        shown_as = type_in(item, ("Image", "Video", "Audio"))
        if shown_as and kind == "file":
            kind = shown_as.lower()
        found.append(Attachment(url=url, label=_text(item.get("name"), 500) or "", kind=kind))
    return found


# -- a group's upcoming events ---------------------------------------------------------------


async def upcoming_events(
    group: Group,
    *,
    public_only: bool = True,
    now: datetime | None = None,
    limit: int = UPCOMING_EVENTS,
) -> list[EventView]:
    """Events of `group` that have not ended (those without an end: not yet started), by
    start. `public_only` (pages, public feeds) keeps only events their authors made public;
    members' servers of a members-only group ask with it off."""
    now = now or datetime.now(UTC)
    rows = (
        await StoredObject.filter(
            group=group, deleted=False, removed=False, starts_at__isnull=False
        )
        .filter(Q(ends_at__gte=now) | Q(ends_at__isnull=True, starts_at__gte=now))
        .order_by("starts_at", "id")
        .limit(limit)
    )
    shown = [r for r in rows if not public_only or is_public_post(r)]
    authors = await _authors({r.attributed_to for r in shown})
    return [
        _event_view(r, authors.get(r.attributed_to) or _unknown_author(r.attributed_to))
        for r in shown
    ]


def _event_view(row: StoredObject, organizer: Author) -> EventView:
    doc: dict[str, Any] = row.document if isinstance(row.document, dict) else {}
    assert row.starts_at is not None
    return EventView(
        id=row.id,
        ap_id=row.ap_id,
        title=_text(doc.get("name"), 300) or _text(doc.get("summary"), 300) or "Event",
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        location=location_text(doc),
        url=link_url(doc.get("url")) or http_url(row.ap_id) or row.ap_id,
        description_html=row.content_html,
        organizer=organizer,
        updated=_time(doc.get("updated")),
    )


# -- moderation: who moderates, what is pinned, what was decided ---------------------------


async def moderators(group: Group) -> list[Author]:
    """The group's moderators as people (the `moderators` collection lists them anyway)."""
    urls = [m.actor_url for m in await Moderator.filter(group=group).order_by("id")]
    known = await _authors(set(urls))
    return [known.get(url) or _unknown_author(url) for url in urls]


async def pinned_posts(group: Group) -> list[StoredObject]:
    """The group's pinned posts, the latest pinned first (its `featured` collection)."""
    return await StoredObject.filter(
        group=group, pinned_at__isnull=False, deleted=False, removed=False
    ).order_by("-pinned_at", "-id")


async def pinned(group: Group) -> list[PostView]:
    """Pinned public posts of a public group, as a page shows them."""
    if not shows_content(group):
        return []
    return await _views([p for p in await pinned_posts(group) if is_public_post(p)])


#: Decisions the published log leaves out: a report names who reported whom.
_PRIVATE_DECISIONS = frozenset({"report", "resolve_report"})
PUBLISHED_LOG_SIZE = 50


@dataclass(frozen=True)
class PublishedDecision:
    """One entry of a group's published moderation log; `moderator` only when the group
    names its moderators."""

    action: str
    target: str
    reason: str
    at: datetime
    moderator: str | None


async def published_log(group: Group) -> list[PublishedDecision] | None:
    """A public group's moderation log, newest first, when the group publishes it; None
    otherwise. Reports stay private; moderators are named only if the group chooses."""
    if not (group.publish_modlog and shows_content(group)):
        return None
    rows = (
        await ModlogEntry.filter(group=group)
        .exclude(action__in=list(_PRIVATE_DECISIONS))
        .order_by("-id")
        .limit(PUBLISHED_LOG_SIZE)
    )
    names = await _authors({r.moderator for r in rows}) if group.modlog_names_moderators else {}
    return [
        PublishedDecision(
            action=r.action,
            target=r.target,
            reason=r.reason,
            at=r.created_at,
            moderator=(
                (names[r.moderator].name if r.moderator in names else r.moderator)
                if group.modlog_names_moderators
                else None
            ),
        )
        for r in rows
    ]
