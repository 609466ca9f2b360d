"""Rejecting media: a post from a domain whose media is rejected is passed on without it.

The group stores and announces the post with no `attachment`; the Announce embeds the post
(instead of naming it by id) so that FEP-1b12 members' servers show the copy without media
rather than fetch the original. A microblog server that boosts the original fetches it
from its author's server, as it would with any boost: that copy is not ours to change.
"""

from __future__ import annotations

from typing import Any

from ..policy import Treatment


def without_media(obj: dict[str, Any]) -> dict[str, Any]:
    """The post without its attachments."""
    return {key: value for key, value in obj.items() if key != "attachment"}


def as_shown(
    activity: dict[str, Any], obj: dict[str, Any], treatment: Treatment
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The activity and its post as the group keeps and announces them: unchanged, or with
    the post's attachments dropped (and the post embedded) when the domain's media is
    rejected."""
    if not treatment.reject_media:
        return activity, obj
    post = without_media(obj)
    # The author's embedded signature or proof no longer covers what we changed: drop it.
    kept = {k: v for k, v in activity.items() if k not in ("signature", "proof")}
    return {**kept, "object": post}, post
