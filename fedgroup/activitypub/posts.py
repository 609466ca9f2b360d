"""What of a member's post we keep: the fields something here reads, and nothing else.

A post arrives as its author's server wrote it, with whatever extensions that software adds
(previews, emoji tables, reply collections, software-specific blobs). Stored whole, every
post would cost what its sender chose; stored trimmed, it costs what we show, announce and
compare. The inbound activity itself is kept as received (the queue and forwarding need
it); the post's row holds this.
"""

from __future__ import annotations

from typing import Any

#: Read by the pages and feeds (reading), threads, events, polls, version ordering and
#: addressing; `mediaType`/`contentMap`/`source` are not read, so they go too.
POST_FIELDS = frozenset(
    {
        # identity and text
        "id", "type", "attributedTo", "content", "name", "summary", "sensitive", "url",
        "attachment", "tag",
        # threading and time
        "inReplyTo", "context", "published", "updated",
        # addressing: who may see it
        "to", "cc", "bto", "bcc", "audience",
        # events
        "startTime", "endTime", "location", "timezone",
        # polls
        "oneOf", "anyOf", "closed", "votersCount",
    }
)  # fmt: skip


def trimmed_post(doc: dict[str, Any]) -> dict[str, Any]:
    """The post with only the fields in `POST_FIELDS`."""
    return {key: value for key, value in doc.items() if key in POST_FIELDS}
