"""Pages for people: the front page, each group, each post with its thread, joining.

A group's page is built from sections, each filled by one function below (which asks one
function of `service.reading`) and drawn by one template in `templates/sections/`. A section
with nothing to show (no moderators, nothing pinned, a log the group does not publish) is
not drawn at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from markupsafe import Markup

from ..activitypub.actors import group_urls
from ..app_keys import FOLLOW_ROUTER, SETTINGS
from ..config import Settings
from ..service import reading
from ..service.joining import LookupFailed, Problem
from ..storage.models import Group, MembershipMode, Visibility
from .templating import render
from .text import plain_text_to_html

routes = web.RouteTableDef()

_MAX_CURSOR = 2**62


def not_found(request: web.Request) -> web.Response:
    """The one "nothing here" page: the same for what does not exist and what is private."""
    return render(request, "not_found.html", {}, status=404)


def gone(request: web.Request) -> web.Response:
    """A deleted group's address: it existed, and is gone for good."""
    return render(request, "gone.html", {}, status=410)


async def _group(request: web.Request) -> Group | None:
    return await Group.get_or_none(name=request.match_info["name"].lower())


def _positive_int(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < _MAX_CURSOR:
        raise web.HTTPBadRequest(text=f"bad {name}", content_type="text/plain")
    return int(raw)


# -- the front page ------------------------------------------------------------------------


@routes.get("/")
async def front_page(request: web.Request) -> web.Response:
    """Public, discoverable groups, searchable by name and by words in their description."""
    listing = await reading.listed_groups(
        request.query.get("q", ""), _positive_int(request, "page", 1) or 1
    )
    return render(request, "front.html", {"listing": listing})


# -- a group's page, one function per section ----------------------------------------------


@dataclass(frozen=True)
class ProfileSection:
    name: str
    title: str
    handle: str
    summary_html: Markup
    summary_text: str
    members_only: bool
    approval: bool
    actor_url: str
    icon_url: str | None
    image_url: str | None
    feed_url: str | None


def profile_section(settings: Settings, group: Group) -> ProfileSection:
    """Who the group is: shown for every group, members-only ones included."""
    urls = group_urls(settings.base_url, group.name)
    path = f"/groups/{group.name}"
    return ProfileSection(
        name=group.name,
        title=group.display_name or group.name,
        handle=f"@{group.name}@{settings.domain}",
        summary_html=Markup(plain_text_to_html(group.summary)),
        summary_text=" ".join(group.summary.split())[:300],
        members_only=group.visibility == Visibility.MEMBERS_ONLY,
        approval=group.membership_mode == MembershipMode.APPROVAL,
        actor_url=urls.actor,
        icon_url=f"{path}/icon" if group.icon_media_type else None,
        image_url=f"{path}/image" if group.image_media_type else None,
        feed_url=f"{path}/feed.atom" if reading.shows_content(group) else None,
    )


def rules_section(group: Group) -> Markup | None:
    """The group's rules, for every group: a newcomer reads them before joining."""
    return Markup(plain_text_to_html(group.rules)) if group.rules.strip() else None


async def members_section(group: Group) -> int | None:
    """How many members a public group has; nothing about a members-only group's people."""
    return await reading.member_count(group) if reading.shows_content(group) else None


@dataclass(frozen=True)
class RecentSection:
    threads: list[reading.PostView]
    next_before: int | None
    older_page: bool


async def recent_section(group: Group, before: int | None) -> RecentSection | None:
    """Recent public conversations; None for a members-only group (no content at all)."""
    if not reading.shows_content(group):
        return None
    threads, next_before = await reading.recent_threads(group, before=before)
    return RecentSection(threads=threads, next_before=next_before, older_page=before is not None)


@dataclass(frozen=True)
class EventsSection:
    upcoming: list[reading.EventView]
    calendar_url: str


async def events_section(group: Group) -> EventsSection | None:
    """Upcoming public events, soonest first; None when there are none (or no content)."""
    if not reading.shows_content(group):
        return None
    upcoming = await reading.upcoming_events(group, limit=10)
    if not upcoming:
        return None
    return EventsSection(upcoming=upcoming, calendar_url=f"/groups/{group.name}/events.ics")


async def moderators_section(group: Group) -> list[reading.Author] | None:
    """Who moderates a public group (its `moderators` collection says so to servers too)."""
    if not reading.shows_content(group):
        return None
    return await reading.moderators(group) or None


async def pinned_section(group: Group) -> list[reading.PostView] | None:
    """The group's pinned public posts, above its conversations."""
    return await reading.pinned(group) or None


async def modlog_section(group: Group) -> list[reading.PublishedDecision] | None:
    """The moderation log, when the group publishes it (an empty one says so)."""
    return await reading.published_log(group)


@dataclass(frozen=True)
class JoinSection:
    action: str
    handle: str
    community: str
    typed: str = ""
    problem: str | None = None
    server: str | None = None


def join_section(
    settings: Settings, group: Group, *, typed: str = "", failure: LookupFailed | None = None
) -> JoinSection:
    """How to join from one's own server: the form, and the handle to search for."""
    return JoinSection(
        action=f"/groups/{group.name}/join",
        handle=f"@{group.name}@{settings.domain}",
        community=f"!{group.name}@{settings.domain}",
        typed=typed,
        problem=failure.problem.value if failure else None,
        server=failure.server if failure else None,
    )


async def _group_sections(
    request: web.Request, group: Group, *, before: int | None = None
) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    return {
        "profile": profile_section(settings, group),
        "rules": rules_section(group),
        "members": await members_section(group),
        "moderators": await moderators_section(group),
        "pinned": await pinned_section(group) if before is None else None,
        "modlog": await modlog_section(group) if before is None else None,
        "events": await events_section(group) if before is None else None,
        "recent": await recent_section(group, before),
        "join": join_section(settings, group),
    }


async def group_page(request: web.Request, group: Group) -> web.Response:
    """What a browser gets at the group's actor URL (servers get the actor document)."""
    before = _positive_int(request, "before", None)
    return render(request, "group.html", await _group_sections(request, group, before=before))


# -- a post and its thread -----------------------------------------------------------------


@routes.get(r"/groups/{name}/posts/{post_id:\d{1,18}}")
async def post_page(request: web.Request) -> web.Response:
    """A public post of a public group with the posts it answers and every public answer."""
    group = await _group(request)
    if group is None:
        return not_found(request)
    thread = await reading.thread_around(group, int(request.match_info["post_id"]))
    if thread is None:
        return not_found(request)
    settings = request.app[SETTINGS]
    return render(
        request,
        "post.html",
        {"profile": profile_section(settings, group), "thread": thread},
    )


# -- joining from one's own server ---------------------------------------------------------

_STATUS_OF_PROBLEM = {
    Problem.MALFORMED: 400,
    Problem.PRIVATE: 400,
    Problem.UNKNOWN_ACCOUNT: 400,
    Problem.UNREACHABLE: 502,
    Problem.BAD_ANSWER: 502,
    Problem.TOO_LARGE: 502,
    Problem.SLOW: 504,
    Problem.BUSY: 503,
}
_MAX_FORM_BYTES = 4096


@routes.post("/groups/{name}/join")
async def join(request: web.Request) -> web.StreamResponse:
    """Send the visitor to their own server's follow page for this group (303), or say
    plainly why we cannot and how to join by hand."""
    group = await _group(request)
    if group is None:
        return not_found(request)
    settings = request.app[SETTINGS]
    if (request.content_length or 0) > _MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(
            max_size=_MAX_FORM_BYTES, actual_size=request.content_length or 0
        )
    form = await request.post()
    typed = form.get("home")
    typed = typed.strip() if isinstance(typed, str) else ""
    group_handle = f"{group.name}@{settings.domain}"
    try:
        route = await request.app[FOLLOW_ROUTER].route(typed, group_handle)
    except LookupFailed as failure:
        context = {
            "profile": profile_section(settings, group),
            "rules": rules_section(group),
            "join": join_section(settings, group, typed=typed[:300], failure=failure),
            "route": None,
        }
        status = _STATUS_OF_PROBLEM[failure.problem]
        return render(request, "join.html", context, status=status)
    if route.url is not None:
        raise web.HTTPSeeOther(location=route.url)
    context = {
        "profile": profile_section(settings, group),
        "rules": rules_section(group),
        "join": join_section(settings, group, typed=typed[:300]),
        "route": route,
    }
    return render(request, "join.html", context)
