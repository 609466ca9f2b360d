"""An Atom feed per public group: its recent conversations, for feed readers.

Built with ElementTree rather than a template: XML escaping is then the library's job, so
no remote text can break the feed or inject elements into it.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import nh3
from aiohttp import web

from ..activitypub.sanitize import sanitize_html
from ..app_keys import SETTINGS
from ..service import reading
from ..storage.models import Group
from .pages import not_found

ATOM = "http://www.w3.org/2005/Atom"
_TITLE_CHARS = 80

routes = web.RouteTableDef()


def _stamp(value: datetime | None) -> str:
    value = value or datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _plain(html_text: str) -> str:
    """The words of sanitized HTML, for an entry title."""
    return " ".join(html.unescape(nh3.clean(html_text, tags=set())).split())


def _entry_title(post: reading.PostView) -> str:
    if post.title:
        return post.title
    words = _plain(post.content_html)
    if len(words) > _TITLE_CHARS:
        words = words[: _TITLE_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return words or post.author.name


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def atom_feed(base_url: str, domain: str, group: Group, posts: list[reading.PostView]) -> bytes:
    """The feed document for `posts` (newest first)."""
    ET.register_namespace("", ATOM)
    page = f"{base_url}/groups/{group.name}"
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", page)
    _sub(feed, "title", group.display_name or group.name)
    if group.summary.strip():
        _sub(feed, "subtitle", group.summary.strip())
    _sub(feed, "link", rel="alternate", type="text/html", href=page)
    _sub(feed, "link", rel="self", type="application/atom+xml", href=f"{page}/feed.atom")
    newest = max((p.updated or p.published for p in posts if p.published), default=None)
    _sub(feed, "updated", _stamp(newest or group.updated_at))
    _sub(_sub(feed, "author"), "name", f"@{group.name}@{domain}")
    _sub(feed, "generator", "fedgroup")
    for post in posts:
        entry = _sub(feed, "entry")
        _sub(entry, "id", post.ap_id)
        _sub(entry, "title", _entry_title(post))
        _sub(entry, "link", rel="alternate", type="text/html", href=f"{page}/posts/{post.id}")
        _sub(entry, "published", _stamp(post.published))
        _sub(entry, "updated", _stamp(post.updated or post.published))
        author = _sub(entry, "author")
        _sub(author, "name", post.author.name)
        _sub(author, "uri", post.author.url)
        _sub(entry, "content", sanitize_html(post.content_html), type="html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


@routes.get("/groups/{name}/feed.atom")
async def group_feed(request: web.Request) -> web.Response:
    """Recent public conversations of a public group; a members-only group has no feed."""
    group = await Group.get_or_none(name=request.match_info["name"].lower())
    if group is None or not reading.shows_content(group):
        return not_found(request)
    settings = request.app[SETTINGS]
    posts, _next = await reading.recent_threads(group)
    body = atom_feed(settings.base_url.rstrip("/"), settings.domain, group, posts)
    return web.Response(
        body=body,
        content_type="application/atom+xml",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )
