"""The Group actor, its page for people, its collections and its images."""

from __future__ import annotations

import html

from aiohttp import web

from ..activitypub.actors import (
    GroupProfile,
    group_actor_document,
    group_urls,
    ordered_collection,
    ordered_collection_page,
)
from ..app_keys import SETTINGS
from ..storage.models import (
    Activity,
    Group,
    Membership,
    MembershipMode,
    MembershipState,
    Visibility,
)
from .negotiation import activity_response, json_error, wants_activity_json
from .text import plain_text_to_html

PAGE_SIZE = 20

routes = web.RouteTableDef()


async def _group_or_404(request: web.Request) -> Group:
    group = await Group.get_or_none(name=request.match_info["name"].lower())
    if group is None:
        if wants_activity_json(request):
            raise web.HTTPNotFound(
                text='{"error": "no such group"}', content_type="application/json"
            )
        raise web.HTTPNotFound(text="No such group.", content_type="text/plain")
    return group


def _profile(group: Group) -> GroupProfile:
    return GroupProfile(
        name=group.name,
        display_name=group.display_name,
        summary_html=plain_text_to_html(group.summary),
        public_key_pem=group.public_key_pem,
        manually_approves_followers=group.membership_mode == MembershipMode.APPROVAL,
        discoverable=group.discoverable and group.visibility == Visibility.PUBLIC,
        posting_restricted_to_mods=group.posting_restricted_to_mods,
        icon_media_type=group.icon_media_type if group.icon else None,
        image_media_type=group.image_media_type if group.image else None,
        published=group.created_at.isoformat().replace("+00:00", "Z"),
        updated=group.updated_at.isoformat().replace("+00:00", "Z"),
    )


@routes.get("/groups/{name}")
async def group_actor(request: web.Request) -> web.StreamResponse:
    """ActivityPub servers get the Group actor; a browser gets a page on how to join."""
    group = await _group_or_404(request)
    settings = request.app[SETTINGS]
    urls = group_urls(settings.base_url, group.name)
    if wants_activity_json(request):
        return activity_response(group_actor_document(urls, _profile(group), urls.actor))
    return web.Response(
        text=_group_page(group, settings.domain, urls.actor), content_type="text/html"
    )


def _group_page(group: Group, domain: str, actor_url: str) -> str:
    handle = f"@{group.name}@{domain}"
    title = html.escape(group.display_name or group.name)
    approval = (
        "<p>Membership is by approval: the group's admins review each request.</p>"
        if group.membership_mode == MembershipMode.APPROVAL
        else ""
    )
    private = (
        "<p>This is a members-only group: its posts are visible to members only.</p>"
        if group.visibility == Visibility.MEMBERS_ONLY
        else ""
    )
    rules = f"<h2>Rules</h2>{plain_text_to_html(group.rules)}" if group.rules.strip() else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="alternate" type="application/activity+json" href="{html.escape(actor_url)}">
</head><body>
<main>
<h1>{title}</h1>
<p><code>{html.escape(handle)}</code></p>
{plain_text_to_html(group.summary)}
{private}
{rules}
<h2>How to join</h2>
<p>From Mastodon, Misskey, Friendica or any microblogging server: search for
<code>{html.escape(handle)}</code> and follow it. Mention it in a post to post to the group.</p>
<p>From Lemmy, Mbin or PieFed: search for
<code>!{html.escape(group.name)}@{html.escape(domain)}</code> and subscribe.
Posts and comments you make in the community go to every member.</p>
{approval}
</main>
</body></html>
"""


@routes.get("/groups/{name}/followers")
async def followers(request: web.Request) -> web.Response:
    """Member count always; the member list only when a public group chooses to publish it."""
    group = await _group_or_404(request)
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
    """Pinned posts (filled by moderation); Mastodon and Lemmy read it from the actor."""
    group = await _group_or_404(request)
    urls = group_urls(request.app[SETTINGS].base_url, group.name)
    return activity_response(ordered_collection(urls.featured, 0, items=[]))


@routes.get("/groups/{name}/moderators")
async def moderators(request: web.Request) -> web.Response:
    """Lemmy reads the moderator list from `attributedTo`; empty until moderators exist."""
    group = await _group_or_404(request)
    urls = group_urls(request.app[SETTINGS].base_url, group.name)
    return activity_response(ordered_collection(urls.moderators, 0, items=[]))


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
    """The group's own activities (its Announces), newest first, paginated with next/prev.

    A members-only group's content is not listed here: it goes only to members' servers.
    """
    group = await _group_or_404(request)
    urls = group_urls(request.app[SETTINGS].base_url, group.name)
    if group.visibility == Visibility.MEMBERS_ONLY:
        return activity_response(ordered_collection(urls.outbox, 0, items=[]))
    listed = Activity.filter(group=group, inbound=False, type="Announce", public=True)
    total = await listed.count()
    page = _page_number(request)
    if page is None:
        return activity_response(
            ordered_collection(urls.outbox, total, first=f"{urls.outbox}?page=1")
        )
    rows = await listed.order_by("-id").offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    items = [row.payload for row in rows[:PAGE_SIZE]]
    return activity_response(
        ordered_collection_page(
            urls.outbox, page, items, total=total, has_next=len(rows) > PAGE_SIZE
        )
    )
