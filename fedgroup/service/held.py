"""Held posts: members' posts kept back for a moderator instead of being announced.

Posts from a limited (silenced) domain come here, and so will those later anti-abuse rules
catch. Nothing of a held post reaches members' servers until a moderator approves it; then
it is stored and announced exactly as it would have been on arrival (conversations
.publish_approved). Rejecting it announces nothing. Both are logged.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..activitypub.signed_fetch import Fetcher
from ..config import Settings
from ..storage.models import Group, HeldPost, HeldState, StoredObject
from . import modlog
from .conversations import publish_approved
from .errors import InvalidValue, NotFound
from .holding import hold_post
from .outcomes import Refused

__all__ = ["approve_held", "find_held", "hold_post", "list_held", "reject_held"]


async def list_held(
    group: Group | None = None, *, state: HeldState = HeldState.HELD
) -> list[HeldPost]:
    """What waits for a decision (oldest first), in one group or in all of them."""
    query = HeldPost.filter(state=state)
    if group is not None:
        query = query.filter(group=group)
    return await query.order_by("id").prefetch_related("group")


async def find_held(group: Group, which: str) -> HeldPost:
    """A held post of `group` by its number (as `held list` shows it) or its post URL."""
    text = which.strip()
    if text.isdigit():
        held = await HeldPost.get_or_none(group=group, id=int(text))
    elif text.startswith(("http://", "https://")):
        held = await HeldPost.get_or_none(group=group, object_id=text)
    else:
        raise InvalidValue(f"not a held post number or URL: {which!r}")
    if held is None:
        raise NotFound(f"no held post {which} in {group.name}")
    if held.state != HeldState.HELD:
        raise InvalidValue(f"held post {which} was already {held.state} by {held.decided_by}")
    return held


async def approve_held(
    settings: Settings, fetcher: Fetcher, group: Group, which: str, *, by: str = modlog.ADMIN
) -> StoredObject:
    """Let a held post through: store it and announce it to every member's server."""
    held = await find_held(group, which)
    try:
        post = await publish_approved(settings, fetcher, group, held.activity, held.object)
    except Refused as refusal:
        raise InvalidValue(f"cannot approve {held.object_id}: {refusal}") from None
    await _decide(held, HeldState.APPROVED, by)
    await modlog.record(
        modlog.ModAction.APPROVE_POST, group=group, moderator=by, target=held.object_id
    )
    return post


async def reject_held(
    group: Group, which: str, *, by: str = modlog.ADMIN, reason: str = ""
) -> HeldPost:
    """Refuse a held post: nothing is announced; the decision is logged."""
    held = await find_held(group, which)
    await _decide(held, HeldState.REJECTED, by)
    await modlog.record(
        modlog.ModAction.REJECT_POST,
        group=group,
        moderator=by,
        target=held.object_id,
        reason=reason,
    )
    return held


async def _decide(held: HeldPost, state: HeldState, by: str) -> None:
    held.state, held.decided_by, held.decided_at = state, by, datetime.now(UTC)
    await held.save(update_fields=["state", "decided_by", "decided_at"])
