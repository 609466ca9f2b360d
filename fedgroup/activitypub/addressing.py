"""Who an activity or object is addressed to, read the way receivers read it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .vocab import as_list, has_type, id_of, ids_of

_ADDRESS_FIELDS = ("to", "cc", "bto", "bcc", "audience")


def recipients(*docs: dict[str, Any]) -> set[str]:
    """Every id named in to/cc/bto/bcc/audience of the given documents."""
    found: set[str] = set()
    for doc in docs:
        for field in _ADDRESS_FIELDS:
            found.update(ids_of(as_list(doc.get(field))))
    return found


def mentioned(obj: dict[str, Any]) -> set[str]:
    """Actors named by `Mention` tags (how Mastodon users address a group)."""
    found: set[str] = set()
    for tag in as_list(obj.get("tag")):
        if has_type(tag, "Mention"):
            href = tag.get("href") or tag.get("id")
            if isinstance(href, str):
                found.add(href)
    return found


def named_actors(activity: dict[str, Any], obj: dict[str, Any]) -> set[str]:
    """Everything that could name a group: addressing of both, and the object's mentions."""
    return recipients(activity, obj) | mentioned(obj)


def in_reply_to(obj: dict[str, Any]) -> str | None:
    return id_of(obj.get("inReplyTo"))


def local_groups_named(names: Iterable[str], group_prefix: str) -> set[str]:
    """Names of our groups among addressed ids (`{base}/groups/NAME`, or its followers)."""
    groups: set[str] = set()
    for ident in names:
        if not ident.startswith(group_prefix):
            continue
        rest = ident[len(group_prefix) :]
        name = rest.removesuffix("/followers")
        if name and "/" not in name and "#" not in name and "?" not in name:
            groups.add(name)
    return groups
