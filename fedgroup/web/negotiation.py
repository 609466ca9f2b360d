"""Content negotiation: the same URL serves ActivityPub JSON to servers and HTML to people."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..activitypub.vocab import ACTIVITY_JSON

_AS_TYPES = ("application/activity+json", "application/ld+json")


def wants_activity_json(request: web.Request) -> bool:
    """True when the client asks for ActivityStreams rather than a page.

    Mastodon asks for `application/activity+json, application/ld+json`; Lemmy and others
    for `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`. A browser
    sends text/html first; anything else defaults to HTML.
    """
    accept = request.headers.get("Accept", "").lower()
    return any(t in accept for t in _AS_TYPES)


def activity_response(doc: dict[str, Any], *, status: int = 200) -> web.Response:
    """An ActivityStreams document with the content type every server accepts."""
    return web.Response(
        status=status,
        body=json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(),
        content_type=ACTIVITY_JSON,
        headers={"Vary": "Accept"},
    )


def json_error(status: int, message: str) -> web.Response:
    """A small JSON error body: machines read `error`, people read the same text."""
    return web.json_response({"error": message}, status=status)
