"""A group's pinned posts as its `featured` collection holds them: Pages Lemmy can parse.

Lemmy reads a community's `featured` as `OrderedCollection` whose `orderedItems` are its
`Page` objects, inline (crates/apub: GroupFeatured, `Vec<Page>`); it then fetches each
item by id from its origin and pins what it gets. Parsing is all or nothing: one item that
does not deserialize as a Page and the whole collection is dropped, so no pin shows at
all. An item here is therefore the pinned post cut to what that parser takes:

- only posts Lemmy has: a top-level post (a Page with `inReplyTo` is refused as a comment)
  of a type it reads as one (Page, Article, Note, Video, Event). A pinned reply, poll,
  image or audio post is left out of the collection: Lemmy could not show it anyway;
- its fields in the forms Lemmy's Page takes, the rest left out of the item (not of the
  post, which Lemmy fetches whole): one author, addresses as URLs, attachments that are a
  Link, Image or Document with one URL, times it can read. `bto`/`bcc` are never listed.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from .versions import parse_time
from .vocab import as_list, http_url, id_of, link_url, type_in

#: What Lemmy's Page deserializes as a post (its PageType).
LEMMY_POST_TYPES = ("Page", "Article", "Note", "Video", "Event")


def featured_item(document: dict[str, Any], author: str) -> dict[str, Any] | None:
    """The post as an item of `featured` (see the module's doc), or None to leave it out."""
    kind = type_in(document, LEMMY_POST_TYPES)
    if kind is None or document.get("inReplyTo") is not None:
        return None
    item: dict[str, Any] = {"id": document["id"], "type": kind, "attributedTo": author}
    for field in ("to", "cc"):
        item[field] = [a for a in as_list(document.get(field)) if isinstance(a, str)]
    for field in ("name", "summary", "content", "context"):
        if isinstance(document.get(field), str):
            item[field] = document[field]
    if isinstance(document.get("sensitive"), bool):
        item["sensitive"] = document["sensitive"]
    if audience := http_url(id_of(document.get("audience"))):
        item["audience"] = audience
    if url := link_url(document.get("url")):
        item["url"] = url
    for field in ("published", "updated"):
        if (moment := parse_time(document.get(field))) is not None:
            item[field] = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    item["attachment"] = [a for a in map(_attachment, as_list(document.get("attachment"))) if a]
    return item


def _attachment(value: Any) -> dict[str, Any] | None:
    """An attachment as one of Lemmy's three shapes: `Link` (`href`), or `Image` or
    `Document` (`url`); anything else (an `Audio`, a `PropertyValue`…) is None."""
    kind = type_in(value, ("Link", "Image", "Document"))
    url = link_url(value.get("href") if kind == "Link" else value.get("url")) if kind else None
    if url is None:
        return None
    shaped: dict[str, Any] = {"type": kind, "href" if kind == "Link" else "url": url}
    for field in ("mediaType", "name"):
        if isinstance(value.get(field), str):
            shaped[field] = value[field]
    return shaped
