"""Holding a post for a moderator: the one write the inbound path makes for a silenced
(limited) domain's post, kept apart from the decisions on it (held.py), which announce
through conversations, so that conversations can hold without a circular import.
"""

from __future__ import annotations

from typing import Any

from ..activitypub.actor_docs import actor_of
from ..storage.models import Group, HeldPost
from . import modlog


async def hold_post(
    group: Group,
    activity: dict[str, Any],
    obj: dict[str, Any],
    reason: str,
    *,
    by: str = modlog.AUTOMATIC,
) -> HeldPost:
    """Keep a member's Create (and its post, as its origin served it) for a moderator.

    Idempotent per group and post: the inbound worker may run the same Create twice."""
    held, created = await HeldPost.get_or_create(
        group=group,
        object_id=obj["id"],
        defaults={
            "actor_url": actor_of(activity) or "",
            "activity": activity,
            "object": obj,
            "reason": reason,
        },
    )
    if created:
        await modlog.record(
            modlog.ModAction.HOLD_POST, group=group, moderator=by, target=obj["id"], reason=reason
        )
    return held
