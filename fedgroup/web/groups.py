"""The Group actor, its page for people, its collections and its images."""

from __future__ import annotations

import json

from aiohttp import web

from ..activitypub.actors import (
    group_urls,
    ordered_collection,
    ordered_collection_page,
    retiring_group_document,
    tombstone_document,
)
from ..activitypub.featured import featured_item
from ..app_keys import SETTINGS
from ..service import threads
from ..service.moderators import list_moderators
from ..service.profile import actor_document
from ..service.reading import is_public_post, pinned_posts
from ..service.tombstones import tombstone_of
from ..storage.models import (
    Group,
    GroupTombstone,
    Membership,
    MembershipState,
    Visibility,
)
from . import pages
from .negotiation import activity_response, json_error, wants_activity_json
from .reading import require_read

PAGE_SIZE = 20

routes = web.RouteTableDef()


async def _group_or_404(request: web.Request) -> Group:
    """The group the path names; 410 Gone for a deleted group's name, else 404."""
    name = request.match_info["name"].lower()
    group = await Group.get_or_none(name=name)
    if group is not None:
        return group
    tombstone = await tombstone_of(name)
    if tombstone is not None:
        raise _gone(request, tombstone)
    if wants_activity_json(request):
        raise web.HTTPNotFound(text='{"error": "no such group"}', content_type="application/json")
    raise web.HTTPNotFound(text="No such group.", content_type="text/plain")


async def _readable_group(request: web.Request) -> Group:
    """The group of a collection the request may read (service.access decides)."""
    group = await _group_or_404(request)
    await require_read(request, group)
    return group


def _gone(request: web.Request, tombstone: GroupTombstone) -> web.HTTPGone:
    """410 with a Tombstone for servers, a line for people: the group existed and is gone."""
    if not wants_activity_json(request):
        return web.HTTPGone(text="This group was deleted.", content_type="text/plain")
    actor = group_urls(request.app[SETTINGS].base_url, tombstone.name).actor
    deleted = tombstone.deleted_at.isoformat().replace("+00:00", "Z")
    return web.HTTPGone(
        text=json.dumps(tombstone_document(actor, deleted)),
        content_type="application/activity+json",
    )


@routes.get("/groups/{name}")
async def group_actor(request: web.Request) -> web.StreamResponse:
    """ActivityPub servers get the Group actor; a browser gets the group's page.

    A deleted group whose `Delete` is still being delivered keeps serving its key (only),
    so that receivers can verify that Delete; then its address is 410 Gone.
    """
    settings = request.app[SETTINGS]
    name = request.match_info["name"].lower()
    if not wants_activity_json(request):
        group = await Group.get_or_none(name=name)
        if group is not None:
            return await pages.group_page(request, group)
        if await tombstone_of(name) is not None:
            return pages.gone(request)
        return pages.not_found(request)
    if not await Group.exists(name=name):
        tombstone = await tombstone_of(name)
        if tombstone is not None and tombstone.public_key_pem:
            urls = group_urls(settings.base_url, tombstone.name)
            return activity_response(
                retiring_group_document(urls, tombstone.name, tombstone.public_key_pem)
            )
    group = await _group_or_404(request)
    return activity_response(actor_document(settings, group))


@routes.get("/groups/{name}/followers")
async def followers(request: web.Request) -> web.Response:
    """Member count always; the member list only when a public group chooses to publish it."""
    group = await _readable_group(request)
    urls = group_urls(request.app[SETTINGS].base_url, group.name)
    accepted = Membership.filter(group=group, state=MembershipState.ACCEPTED)
    total = await accepted.count()
    publish = group.publish_members and group.visibility == Visibility.PUBLIC
    if not publish:
        return activity_response(ordered_collection(urls.followers, total))
    page = _page_number(request)
    if page is None:
        return activity_response(
            ordered_collection(urls.followers, total, first=f"{urls.followers}?page=1")
        )
    rows = (
        await accepted.order_by("id")
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
        .prefetch_related("actor")
    )
    items = [m.actor.url for m in rows[:PAGE_SIZE]]
    return activity_response(
        ordered_collection_page(
            urls.followers, page, items, total=total, has_next=len(rows) > PAGE_SIZE
        )
    )


def _page_number(request: web.Request) -> int | None:
    raw = request.query.get("page")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        raise web.HTTPBadRequest(text='{"error": "bad page"}', content_type="application/json")
    return int(raw)


@routes.get("/groups/{name}/featured")
async def featured(request: web.Request) -> web.Response:
    """Pinned posts, embedded as Pages Lemmy parses (activitypub.featured: one it could not
    parse would void the whole collection there): a new member's server reads them from the
    actor's `featured`. Only public posts are listed, except to a members-only group's
    members."""
    group = await _readable_group(request)
    urls = group_urls(request.app[SETTINGS].base_url, group.name)
    members_only = group.visibility == Visibility.MEMBERS_ONLY
    listed = [
        featured_item(post.document, post.attributed_to)
        for post in await pinned_posts(group)
        if members_only or is_public_post(post)
    ]
    items = [item for item in listed if item is not None]
    return activity_response(ordered_collection(urls.featured, len(items), items=items))


@routes.get("/groups/{name}/moderators")
async def moderators(request: web.Request) -> web.Response:
    """The moderators' actor ids, as Lemmy reads them from the group's `attributedTo`."""
    group = await _readable_group(request)
    urls = group_urls(request.app[SETTINGS].base_url, group.name)
    items = [m.actor_url for m in await list_moderators(group)]
    return activity_response(ordered_collection(urls.moderators, len(items), items=items))


async def _image(request: web.Request, which: str) -> web.Response:
    group = await _group_or_404(request)
    data = getattr(group, which)
    media_type = getattr(group, f"{which}_media_type")
    if not data or not media_type:
        return json_error(404, f"this group has no {which}")
    return web.Response(
        body=bytes(data),
        content_type=media_type,
        headers={
            "Cache-Control": "public, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
        },
    )


@routes.get("/groups/{name}/icon")
async def icon(request: web.Request) -> web.Response:
    return await _image(request, "icon")


@routes.get("/groups/{name}/image")
async def image(request: web.Request) -> web.Response:
    return await _image(request, "image")


@routes.get("/groups/{name}/outbox")
async def outbox(request: web.Request) -> web.Response:
    """The group's conversations as it announced them, newest first, paginated.

    The head carries the first page inline as well as a link to it: Lemmy reads a newly
    followed community's posts from the head's `orderedItems` and never pages. A
    members-only group's content is not listed here: it goes only to members' servers.
    """
    group = await _readable_group(request)
    urls = group_urls(request.app[SETTINGS].base_url, group.name)
    if group.visibility == Visibility.MEMBERS_ONLY:
        return activity_response(ordered_collection(urls.outbox, 0, items=[]))
    page = _page_number(request)
    found = await threads.announced_posts(group, page=page or 1, size=PAGE_SIZE)
    if page is None:
        return activity_response(
            ordered_collection(
                urls.outbox, found.total, items=found.items, first=f"{urls.outbox}?page=1"
            )
        )
    return activity_response(
        ordered_collection_page(
            urls.outbox, page, found.items, total=found.total, has_next=found.has_next
        )
    )
