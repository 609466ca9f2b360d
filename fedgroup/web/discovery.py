"""WebFinger, host-meta and NodeInfo: how other servers find our groups and learn what we are."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

from aiohttp import web

from .. import __version__
from ..activitypub.actors import group_urls, instance_actor_url
from ..activitypub.hosts import authority_or_none
from ..activitypub.vocab import ACTIVITY_JSON
from ..app_keys import SETTINGS
from ..service.tombstones import tombstone_of
from ..storage.models import Activity, Group, Membership, MembershipState
from .negotiation import json_error

NODEINFO_21_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/2.1"
APPLICATION_ACTOR_REL = "https://www.w3.org/ns/activitystreams#Application"
_ACCT = re.compile(r"^acct:(?P<name>[^@\s/]+)@(?P<host>[^@\s/]+)$", re.IGNORECASE)

routes = web.RouteTableDef()


def _jrd_for_group(request: web.Request, group: Group, subject: str) -> web.Response:
    settings = request.app[SETTINGS]
    urls = group_urls(settings.base_url, group.name)
    doc = {
        "subject": subject,
        "aliases": [urls.actor],
        "links": [
            {"rel": "self", "type": ACTIVITY_JSON, "href": urls.actor},
            {
                "rel": "http://webfinger.net/rel/profile-page",
                "type": "text/html",
                "href": urls.actor,
            },
        ],
    }
    return web.json_response(doc, content_type="application/jrd+json")


def _jrd_for_instance(request: web.Request, subject: str) -> web.Response:
    actor = instance_actor_url(request.app[SETTINGS].base_url)
    doc = {
        "subject": subject,
        "aliases": [actor],
        "links": [{"rel": "self", "type": ACTIVITY_JSON, "href": actor}],
    }
    return web.json_response(doc, content_type="application/jrd+json")


@routes.get("/.well-known/webfinger")
async def webfinger(request: web.Request) -> web.Response:
    """`acct:NAME@DOMAIN` or the actor URL itself → links to the Group actor."""
    settings = request.app[SETTINGS]
    resource = unquote(request.query.get("resource", "")).strip()
    if not resource:
        return json_error(400, "missing resource parameter")
    base = settings.base_url.rstrip("/")
    name: str | None
    if resource.startswith(("http://", "https://")):
        if resource == instance_actor_url(base):
            return _jrd_for_instance(request, resource)
        prefix = base + "/groups/"
        if not resource.startswith(prefix):
            return json_error(404, "no such actor here")
        name = resource[len(prefix) :]
        subject = f"acct:{name}@{settings.domain}"
    else:
        has_scheme = resource[:5].lower() == "acct:"
        match = _ACCT.match(resource if has_scheme else "acct:" + resource)
        if not match:
            return json_error(400, "resource must be acct:NAME@HOST or an actor URL")
        if authority_or_none(match["host"]) != authority_or_none(settings.base_url):
            return json_error(404, "that account is not on this server")
        name = match["name"].lower()
        subject = f"acct:{name}@{settings.domain}"
        if name == settings.domain.split(":")[0].lower():
            return _jrd_for_instance(request, subject)
    group = await Group.get_or_none(name=name)
    if group is None:
        if await tombstone_of(name) is not None:
            return json_error(410, "this group was deleted")
        return json_error(404, "no such group")
    return _jrd_for_group(request, group, subject)


@routes.get("/.well-known/host-meta")
async def host_meta(request: web.Request) -> web.Response:
    """XRD pointing at WebFinger: older software still looks here first."""
    template = html.escape(
        request.app[SETTINGS].base_url.rstrip("/") + "/.well-known/webfinger?resource={uri}"
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template="{template}"/>\n'
        "</XRD>\n"
    )
    return web.Response(text=body, content_type="application/xrd+xml")


@routes.get("/.well-known/nodeinfo")
async def nodeinfo_links(request: web.Request) -> web.Response:
    """NodeInfo, and (FEP-2677) our Application actor: a server in secure mode finds there
    the actor whose key signs our fetches."""
    base_url = request.app[SETTINGS].base_url
    links = [
        {"rel": NODEINFO_21_SCHEMA, "href": base_url.rstrip("/") + "/nodeinfo/2.1"},
        {"rel": APPLICATION_ACTOR_REL, "href": instance_actor_url(base_url)},
    ]
    return web.json_response({"links": links})


@routes.get("/nodeinfo/2.1")
async def nodeinfo(request: web.Request) -> web.Response:
    """NodeInfo 2.1: software name and usage counts, which peers use to pick activity shapes."""
    groups = await Group.all().count()
    members = await Membership.filter(state=MembershipState.ACCEPTED).count()
    local_posts = await Activity.filter(inbound=False, type="Announce").count()
    doc = {
        "version": "2.1",
        "software": {
            "name": "fedgroup",
            "version": __version__,
        },
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {"users": {"total": groups}, "localPosts": local_posts},
        "metadata": {"groups": groups, "members": members},
    }
    return web.json_response(doc)
