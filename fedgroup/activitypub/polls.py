"""Polls (`Question`) and votes, as Mastodon, Misskey and Pleroma send them.

A vote is a `Create{Note}` whose Note has the chosen option's text as `name`, answers the
poll (`inReplyTo`) and has no content of its own. It is a ballot for the poll's author, who
counts it and publishes the results; it is never a reply for everyone to read.
"""

from __future__ import annotations

from typing import Any

from .vocab import has_type, id_of


def is_vote(obj: dict[str, Any]) -> bool:
    """Whether a Note is a vote: a `name`, an `inReplyTo`, and no content."""
    if not has_type(obj, "Note"):
        return False
    name = obj.get("name")
    content = obj.get("content")
    return (
        isinstance(name, str)
        and bool(name.strip())
        and id_of(obj.get("inReplyTo")) is not None
        and not (isinstance(content, str) and content.strip())
    )


def option_names(question: dict[str, Any]) -> set[str]:
    """The options a poll offers (`oneOf` or `anyOf`), by name."""
    names: set[str] = set()
    for key in ("oneOf", "anyOf"):
        options = question.get(key)
        for option in options if isinstance(options, list) else []:
            if isinstance(option, dict) and isinstance(option.get("name"), str):
                names.add(option["name"])
    return names
