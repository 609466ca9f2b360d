"""What a new member's server reads to catch up: threads, answers, upcoming events.

- `/groups/NAME/threads/ID`: a thread's posts, oldest first (FEP-7888 `context`, read as
  FEP-f228's "collection of posts"); the group announces every post under it.
- `/groups/NAME/posts/ID/replies`: the answers to one post.
- `/groups/NAME/events`: upcoming events, soonest first; `/groups/NAME/events.ics`: the same
  for calendar applications (public groups only: a calendar cannot sign its requests).

Items are ids: a reader fetches each post from its author's server, which is where it is
authoritative. A public group lists what its authors made public; a members-only group's
collections answer only GETs signed from a member's server (service.access), in full.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from ..activitypub.actors import group_urls, ordered_collection, ordered_collection_page
from ..app_keys import SETTINGS
from ..service import reading, threads
from ..storage.models import Group
from .groups import _page_number, _readable_group
from .ical import calendar
from .negotiation import activity_response, json_error
from .pages import not_found

routes = web.RouteTableDef()


async def _readable(request: web.Request) -> tuple[Group, bool]:
    """The group, if this GET may read it (service.access: anyone for a public group unless
    `authorized_fetch`, a member's server for a members-only one), and whether the reader
    sees only what was made public (everyone but a members-only group's members)."""
    group = await _readable_group(request)
    return group, reading.shows_content(group)


def _collection(
    request: web.Request, url: str, page: threads.ThreadPage, **extra: object
) -> web.Response:
    number = _page_number(request)
    if number is None:
        head = ordered_collection(url, page.total, first=f"{url}?page=1", **extra)
        return activity_response(head)
    doc = ordered_collection_page(url, number, page.items, total=page.total, has_next=page.has_next)
    return activity_response(doc)


@routes.get(r"/groups/{name}/threads/{thread_id:\d{1,18}}")
async def thread(request: web.Request) -> web.Response:
    """A thread's posts, chronological, owned by the group."""
    group, public_only = await _readable(request)
    thread_id = int(request.match_info["thread_id"])
    found = await threads.thread_posts(
        group, thread_id, page=_page_number(request) or 1, public_only=public_only
    )
    if found is None:
        return json_error(404, "no such thread")
    urls = group_urls(request.app[SETTINGS].base_url, group.name)
    return _collection(
        request, urls.thread(thread_id), found, attributedTo=urls.actor, audience=urls.actor
    )


@routes.get(r"/groups/{name}/posts/{post_id:\d{1,18}}/replies")
async def replies(request: web.Request) -> web.Response:
    """The answers to one post of the group, oldest first."""
    group, public_only = await _readable(request)
    post_id = int(request.match_info["post_id"])
    found = await threads.direct_replies(
        group, post_id, page=_page_number(request) or 1, public_only=public_only
    )
    if found is None:
        return json_error(404, "no such post")
    urls = group_urls(request.app[SETTINGS].base_url, group.name)
    context = threads.context_of(request.app[SETTINGS], group, found.root)
    return _collection(request, urls.replies(post_id), found, context=context)


@routes.get("/groups/{name}/events")
async def events(request: web.Request) -> web.Response:
    """Upcoming events, soonest first (ids, like the outbox's items, fetched from origin)."""
    group, public_only = await _readable(request)
    upcoming = await reading.upcoming_events(group, public_only=public_only)
    urls = group_urls(request.app[SETTINGS].base_url, group.name)
    items = [event.ap_id for event in upcoming]
    return activity_response(
        ordered_collection(urls.events, len(items), items=items, attributedTo=urls.actor)
    )


@routes.get("/groups/{name}/events.ics")
async def events_feed(request: web.Request) -> web.Response:
    """Upcoming public events of a public group as iCalendar; members-only groups have none."""
    group = await Group.get_or_none(name=request.match_info["name"].lower())
    if group is None or not reading.shows_content(group):
        return not_found(request)
    settings = request.app[SETTINGS]
    body = calendar(
        name=group.display_name or group.name,
        product=settings.domain,
        events=await reading.upcoming_events(group),
        now=datetime.now(UTC),
    )
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )
