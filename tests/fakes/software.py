"""How a receiving server's software would treat what the group sent it.

Mastodon turns an Announce into a boost only when it can fetch the announced object as a
public status from its origin; it ignores `Announce{Create}`. Lemmy (FEP-1b12) reads the
activity embedded in the Announce and checks its audience is the announcing group.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from fedgroup.activitypub.vocab import PUBLIC_ALIASES, as_list, id_of

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


def _host(url: Any) -> str:
    return urlsplit(url).netloc if isinstance(url, str) else ""


def mastodon_profile_update(post: ReceivedPost) -> dict[str, Any] | None:
    """The actor a Mastodon server would store from this `Update`: Mastodon's Update handler
    takes an embedded actor only when it is the signing actor itself (object id == actor)."""
    body = post.json or {}
    obj = body.get("object")
    if body.get("type") != "Update" or not isinstance(obj, dict) or not post.verified:
        return None
    if obj.get("type") not in {"Application", "Group", "Organization", "Person", "Service"}:
        return None
    return obj if obj.get("id") == body.get("actor") else None


def _lemmy_visibility_ok(activity: dict[str, Any], group: dict[str, Any], *, with_cc: bool) -> bool:
    """Lemmy's verify_visibility: a community whose actor says manuallyApprovesFollowers is
    private and its activities must not name Public; any other must name it."""
    addressed = as_list(activity.get("to")) + (as_list(activity.get("cc")) if with_cc else [])
    public = bool({a for a in addressed if isinstance(a, str)} & PUBLIC_ALIASES)
    return not public if group.get("manuallyApprovesFollowers") else public


def lemmy_community_update(
    post: ReceivedPost, known_group: dict[str, Any]
) -> dict[str, Any] | None:
    """The Group a Lemmy server would store from this `Update`, given the copy it holds:
    the actor must be on the community's own domain (Lemmy's verify_mod_action takes that as
    an admin's action), the addressing must match the community's visibility, and the new
    document must be for the same community."""
    body = post.json or {}
    obj = body.get("object")
    if body.get("type") != "Update" or not isinstance(obj, dict) or not post.verified:
        return None
    if obj.get("type") != "Group" or obj.get("id") != known_group.get("id"):
        return None
    if _host(body.get("actor")) != _host(known_group.get("id")):
        return None
    if not _lemmy_visibility_ok(body, known_group, with_cc=True):
        return None
    return obj


def lemmy_deletes_community(post: ReceivedPost, known_group: dict[str, Any]) -> bool:
    """Whether Lemmy would mark the community deleted: a verified `Delete` of it by an actor
    on its domain, without `summary` (that would be a moderator's removal, whose actor Lemmy
    dereferences as a person), addressed (`to` only) as its visibility requires."""
    body = post.json or {}
    if body.get("type") != "Delete" or not post.verified or "summary" in body:
        return False
    if id_of(body.get("object")) != known_group.get("id"):
        return False
    if _host(body.get("actor")) != _host(known_group.get("id")):
        return False
    return _lemmy_visibility_ok(body, known_group, with_cc=False)


def mastodon_deletes_account(post: ReceivedPost) -> bool:
    """Whether Mastodon would delete the account: a verified `Delete` whose object is the
    signing actor itself."""
    body = post.json or {}
    return (
        body.get("type") == "Delete"
        and bool(post.verified)
        and id_of(body.get("object")) == body.get("actor")
    )


def _lemmy_collection_items(
    collection: dict[str, Any], community: dict[str, Any], kind: str
) -> list[Any]:
    """The `orderedItems` of a community's collection Lemmy deserializes as `kind`
    (GroupOutbox, GroupFeatured): an OrderedCollection with `id` on the community's domain,
    an integer `totalItems` and the items inline (it never pages); ValueError if not."""
    if collection.get("type") != "OrderedCollection" or _host(collection.get("id")) != _host(
        community.get("id")
    ):
        raise ValueError(f"not a {kind} of this community")
    total, items = collection.get("totalItems"), collection.get("orderedItems")
    if not isinstance(total, int) or not isinstance(items, list):
        raise ValueError(f"a {kind} needs totalItems and orderedItems")
    return items


_LEMMY_PAGE_TYPES = frozenset({"Page", "Article", "Note", "Video", "Event"})


def lemmy_outbox_posts(outbox: dict[str, Any], community: dict[str, Any]) -> list[dict[str, Any]]:
    """The posts a Lemmy server creates when it first fetches a community's outbox, in order.

    As Lemmy's community outbox reader does (crates/apub community_outbox.rs): the document
    must deserialize as its GroupOutbox (an OrderedCollection with `id` on the community's
    domain, an integer `totalItems` and `orderedItems` inline: it never pages); it takes the
    first 10 items (a new instance); each must be an `Announce` by the community whose
    embedded activity is a `Create` or `Update` of a Page-like object without `inReplyTo`
    (anything else, a comment or a vote, is skipped), by an actor on the object's domain,
    naming the community, addressed as the community's visibility requires.
    """
    items = _lemmy_collection_items(outbox, community, "GroupOutbox")
    posts = []
    for announce in items[:10]:
        if not isinstance(announce, dict) or announce.get("type") != "Announce":
            continue
        if announce.get("actor") != community["id"] or not isinstance(announce.get("id"), str):
            continue
        inner = announce.get("object")
        if not isinstance(inner, dict) or inner.get("type") not in {"Create", "Update"}:
            continue
        page = inner.get("object")
        if not isinstance(page, dict) or page.get("type") not in _LEMMY_PAGE_TYPES:
            continue
        if "inReplyTo" in page or _host(inner.get("actor")) != _host(page.get("id")):
            continue
        if page.get("type") == "Note":
            continue  # a Create{Note} deserializes as a comment first, and is skipped
        named = {id_of(page.get("audience"))} | _addresses(page)
        if community["id"] not in named:
            continue
        audience = id_of(inner.get("audience"))
        if audience is not None and audience != community["id"]:
            continue
        if not _lemmy_visibility_ok(inner, community, with_cc=True):
            continue
        posts.append(page)
    return posts


_LEMMY_ATTACHMENT_URL = {"Link": "href", "Image": "url", "Document": "url"}
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")
LEMMY_FETCH_LIMIT_MAX = 50


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and _URL.fullmatch(value) is not None


def lemmy_page_refusal(doc: Any) -> str | None:
    """Why Lemmy's `Page` deserializer (crates/apub objects protocol/page.rs) refuses this
    document, or None if it takes it. Unknown fields are ignored; these are its rules."""
    if not isinstance(doc, dict):
        return "not an object"
    if doc.get("type") not in _LEMMY_PAGE_TYPES:
        return f"type {doc.get('type')!r} is not a PageType"
    if not _is_url(doc.get("id")):
        return "no id"
    author = doc.get("attributedTo")
    peertube = isinstance(author, list) and all(
        isinstance(a, dict) and a.get("type") in ("Person", "Group") and _is_url(a.get("id"))
        for a in author
    )
    if not (_is_url(author) or peertube):
        return "attributedTo is neither a URL nor PeerTube's list"
    if doc.get("inReplyTo") is not None:
        return "inReplyTo: a comment, not a post"
    for field in ("to", "cc"):
        if not all(_is_url(a) for a in as_list(doc.get(field))):
            return f"{field} holds something that is not a URL"
    for field in ("name", "content", "context"):
        if doc.get(field) is not None and not isinstance(doc[field], str):
            return f"{field} is not a string"
    if doc.get("mediaType") not in (None, "text/html", "text/markdown"):
        return "mediaType is neither text/html nor text/markdown"
    if doc.get("sensitive") not in (None, True, False):
        return "sensitive is not a boolean"
    for field in ("published", "updated"):
        value = doc.get(field)
        if value is not None and not (isinstance(value, str) and _RFC3339.fullmatch(value)):
            return f"{field} is not an RFC 3339 time"
    if doc.get("audience") is not None and not _is_url(doc["audience"]):
        return "audience is not a URL"
    attachments = doc.get("attachment", [])
    if not isinstance(attachments, list):
        return "attachment is not a list"
    for item in attachments:
        key = _LEMMY_ATTACHMENT_URL.get(item.get("type")) if isinstance(item, dict) else None
        if key is None or not _is_url(item.get(key)):
            return "an attachment is not a Link, Image or Document with one URL"
    image = doc.get("image")
    if image is not None and not (
        isinstance(image, dict) and image.get("type") == "Image" and _is_url(image.get("url"))
    ):
        return "image is not an Image with one URL"
    return None


async def lemmy_featured_posts(
    featured: dict[str, Any],
    community: dict[str, Any],
    fetch: Callable[[str], Awaitable[dict[str, Any] | None]],
) -> list[dict[str, Any]]:
    """The posts a Lemmy server pins in a community when it reads its `featured`, in order.

    As Lemmy's reader does (crates/apub community_featured.rs): the document must
    deserialize as its GroupFeatured, an OrderedCollection with `id` on the community's
    domain, an integer `totalItems` and `orderedItems` inline, every one a `Page`: a single
    item that is not fails the whole collection (ValueError says which). Of the first 50,
    each is fetched by id from its origin (`fetch`) and pinned if what comes back is a Page
    of this community (named in `to`/`cc`; `audience`, if given, the community), by an
    author on the post's domain, addressed Public as a public community's posts must be; a
    failed fetch or parse is skipped.
    """
    items = _lemmy_collection_items(featured, community, "GroupFeatured")
    for item in items:
        if (why := lemmy_page_refusal(item)) is not None:
            raise ValueError(f"featured item {id_of(item)} is not a Page: {why}")
    pinned = []
    for item in items[:LEMMY_FETCH_LIMIT_MAX]:
        page = await fetch(item["id"])
        if page is None or page.get("id") != item["id"] or lemmy_page_refusal(page):
            continue
        if community["id"] not in {a for a in as_list(page.get("to")) + as_list(page.get("cc"))}:
            continue
        if page.get("audience") not in (None, community["id"]):
            continue
        if _host(page.get("attributedTo")) != _host(page["id"]):
            continue
        if not _lemmy_visibility_ok(page, community, with_cc=True):
            continue
        pinned.append(page)
    return pinned


def lemmy_mod_action(
    post: ReceivedPost, community: dict[str, Any], moderators: list[str]
) -> dict[str, Any] | None:
    """The moderation activity a Lemmy server would apply from this Announce, or None.

    As Lemmy's receiving side checks an announced `Add`/`Remove`/`Lock`/`Delete`/`Block` or
    its `Undo` (verify_mod_action, verify_visibility): announced by the community, signed;
    the inner actor a moderator in the community's `moderators` collection, or on the
    community's own domain (Lemmy takes that as an instance admin's action); the inner
    activity naming the community in `cc` or `audience`; addressed as the community's
    visibility requires."""
    inner = lemmy_inner(post, community["id"])
    if inner is None or not post.verified:
        return None
    if inner.get("type") not in {"Add", "Remove", "Lock", "Delete", "Block", "Undo"}:
        return None
    actor = inner.get("actor")
    if actor not in moderators and _host(actor) != _host(community["id"]):
        return None
    named = {id_of(inner.get("audience"))} | {
        a for a in as_list(inner.get("cc")) if isinstance(a, str)
    }
    if community["id"] not in named:
        return None
    if not _lemmy_visibility_ok(inner, community, with_cc=False):
        return None
    return inner


async def _fetch_actor(url: str) -> dict[str, Any] | None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Accept": "application/activity+json"}) as answer,
    ):
        if answer.status != 200:
            return None
        document = await answer.json(content_type=None)
    return document if isinstance(document, dict) and document.get("id") == url else None


async def _move_target(post: ReceivedPost) -> str | None:
    body = post.json or {}
    if body.get("type") != "Move" or not post.verified:
        return None
    origin, target = body.get("actor"), id_of(body.get("target"))
    if id_of(body.get("object")) != origin or not isinstance(target, str):
        return None
    new_home = await _fetch_actor(target)
    if new_home is None or origin not in {id_of(a) for a in as_list(new_home.get("alsoKnownAs"))}:
        return None
    return target


async def mastodon_move_target(post: ReceivedPost) -> str | None:
    """Where a Mastodon server moves the local followers of the Move's actor, or None: as its
    Move handler, the object must be the (signing) actor, and the target, fetched from its
    own origin, must list the actor in `alsoKnownAs`. Its MoveWorker then makes each local
    follower follow the target and unfollow the actor."""
    return await _move_target(post)


async def lemmy_move_target(post: ReceivedPost, known_group: dict[str, Any]) -> str | None:
    """Where a Lemmy server would move a community's subscribers. Lemmy has no Move yet
    (LemmyNet/lemmy#4619 asks for FEP-7628); modelled as that proposal reads: Mastodon's
    checks, plus Lemmy's rule that a community's activities are addressed as its visibility
    requires, and only for the community it knows."""
    body = post.json or {}
    if body.get("actor") != known_group.get("id"):
        return None
    if not _lemmy_visibility_ok(body, known_group, with_cc=True):
        return None
    return await _move_target(post)
