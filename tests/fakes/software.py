"""How a receiving server's software would treat what the group sent it.

Mastodon turns an Announce into a boost only when it can fetch the announced object as a
public status from its origin; it ignores `Announce{Create}`. Lemmy (FEP-1b12) reads the
activity embedded in the Announce and checks its audience is the announcing group.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from fedgroup.activitypub.vocab import PUBLIC_ALIASES, as_list

from .instance import ReceivedPost


def _addresses(doc: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for field in ("to", "cc", "bto", "bcc", "audience"):
        for item in as_list(doc.get(field)):
            if isinstance(item, str):
                found.add(item)
            elif isinstance(item, dict) and isinstance(item.get("id"), str):
                found.add(item["id"])
    return found


def mentions_public(doc: Any) -> bool:
    """Whether Public appears anywhere in a document, at any depth."""
    if isinstance(doc, dict):
        return bool(_addresses(doc) & PUBLIC_ALIASES) or any(
            mentions_public(v) for v in doc.values()
        )
    if isinstance(doc, list):
        return any(mentions_public(v) for v in doc)
    return isinstance(doc, str) and doc in PUBLIC_ALIASES


async def mastodon_boost_of(post: ReceivedPost) -> dict[str, Any] | None:
    """The status a Mastodon server would show as boosted by this Announce, or None."""
    body = post.json or {}
    if body.get("type") != "Announce" or not isinstance(body.get("object"), str):
        return None
    async with (
        aiohttp.ClientSession() as session,
        session.get(body["object"], headers={"Accept": "application/activity+json"}) as answer,
    ):
        if answer.status != 200:
            return None
        status = await answer.json(content_type=None)
    if status.get("id") != body["object"] or status.get("type") not in {"Note", "Page", "Article"}:
        return None
    if not _addresses(status) & PUBLIC_ALIASES:
        return None
    return status


def lemmy_inner(post: ReceivedPost, group_url: str) -> dict[str, Any] | None:
    """The activity a Lemmy server would apply from this Announce, or None."""
    body = post.json or {}
    inner = body.get("object")
    if body.get("type") != "Announce" or body.get("actor") != group_url:
        return None
    if not isinstance(inner, dict) or "type" not in inner:
        return None
    return inner
