"""Which of two versions of an object is newer: edits arrive late, twice, or out of order.

An edit (`Update`) carries the object as its author now has it, with `updated` saying when
it was edited. We keep a version only if it is newer than the one we hold; an older one
arriving after a newer one (a retry that took the long way) would otherwise undo the edit.
Polls are the exception to "edits carry `updated`": Mastodon sends the new vote counts of a
`Question` in an `Update` without changing `updated`, so for a poll whose edit time is
unchanged the counts decide: results only grow (and a closed poll stays closed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from .vocab import as_list, has_type


class Order(StrEnum):
    NEWER = "newer"  # apply it
    SAME = "same"  # the version we hold, again: nothing changes (replay, or a second copy)
    OLDER = "older"  # arrived after a newer one: drop it


def parse_time(value: Any) -> datetime | None:
    """An xsd:dateTime as an aware datetime (naive ones are UTC), or None."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def edited_at(doc: dict[str, Any]) -> datetime | None:
    """When this version was made: its `updated`, else its `published`."""
    return parse_time(doc.get("updated")) or parse_time(doc.get("published"))


def poll_total(doc: dict[str, Any]) -> int:
    """Votes a poll has counted: `votersCount`, else the sum of its options' reply counts."""
    voters = doc.get("votersCount")
    if isinstance(voters, int) and not isinstance(voters, bool) and voters >= 0:
        return voters
    total = 0
    for option in as_list(doc.get("oneOf")) + as_list(doc.get("anyOf")):
        replies = option.get("replies") if isinstance(option, dict) else None
        count = replies.get("totalItems") if isinstance(replies, dict) else None
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            total += count
    return total


def _closed(doc: dict[str, Any]) -> bool:
    """Mastodon marks a finished poll with `closed` (the time it closed)."""
    return bool(doc.get("closed"))


def compare_versions(held: dict[str, Any], incoming: dict[str, Any]) -> Order:
    """Whether `incoming` should replace `held` (both versions of one object)."""
    if incoming == held:
        return Order.SAME
    held_at, incoming_at = edited_at(held), edited_at(incoming)
    if incoming_at is None:
        # No time to order by: only a version we cannot order either may be replaced.
        return Order.NEWER if held_at is None else Order.OLDER
    if held_at is None or incoming_at > held_at:
        return Order.NEWER
    if incoming_at < held_at:
        return Order.OLDER
    if has_type(held, "Question") and has_type(incoming, "Question"):
        return _poll_results_order(held, incoming)
    return Order.OLDER  # the same edit time with other content: the first one we kept stays


def _poll_results_order(held: dict[str, Any], incoming: dict[str, Any]) -> Order:
    """Same edit time: a results update. Newer when it counts more votes, or as many and
    closes the poll; never reopen a closed poll or lose votes."""
    if _closed(held) and not _closed(incoming):
        return Order.OLDER
    held_votes, incoming_votes = poll_total(held), poll_total(incoming)
    if incoming_votes > held_votes:
        return Order.NEWER
    if incoming_votes == held_votes and _closed(incoming) and not _closed(held):
        return Order.NEWER
    return Order.OLDER
