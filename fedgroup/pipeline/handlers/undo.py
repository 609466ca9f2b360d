"""Undo: of a Follow (leaving a group), of a Like or Dislike, of an RSVP to an event, of an
author's Delete of their post (a restore), or of a moderator's removal, lock or ban."""

from __future__ import annotations

from ...activitypub.actor_docs import actor_of
from ...activitypub.events import RSVP_TYPES
from ...activitypub.vocab import id_of, type_in
from ...service.conversations import Refused, receive_reaction, receive_undelete
from ...service.events import receive_rsvp
from ...service.membership import get_group_by_url, receive_unfollow
from ...service.remote_moderation import (
    is_moderation_of,
    receive_lock,
    receive_restore,
    receive_unban,
)
from ...storage.models import Activity
from .context import Ignored, InboundContext


async def _undone(ctx: InboundContext) -> dict | None:
    """The undone activity: embedded (Mastodon, Lemmy) or by id from what we stored."""
    inner = ctx.activity.get("object")
    if isinstance(inner, dict):
        return inner
    stored = await Activity.get_or_none(ap_id=id_of(inner) or "", inbound=True)
    return stored.payload if stored else None


async def handle(ctx: InboundContext) -> None:
    inner = await _undone(ctx)
    if inner is None:
        raise Ignored("Undo of an activity we never saw")
    if actor_of(inner) not in (None, ctx.actor):
        raise Ignored("Undo of another actor's activity")
    kind = type_in(inner, {"Like", "Dislike", "Follow", "Delete", "Lock", "Block", *RSVP_TYPES})
    if kind in {"Delete", "Lock", "Block"}:
        await _undo_moderation(ctx, kind, inner)
        return
    if kind in {"Like", "Dislike"}:
        try:
            await receive_reaction(ctx.settings, {**ctx.activity, "object": inner})
        except Refused as refusal:
            raise Ignored(str(refusal)) from None
        return
    if kind in RSVP_TYPES:
        try:
            await receive_rsvp(ctx.settings, ctx.fetcher, ctx.activity, inner)
        except Refused as refusal:
            raise Ignored(str(refusal)) from None
        return
    if kind != "Follow":
        raise Ignored(f"Undo of {inner.get('type')!r} is not handled")
    group = await get_group_by_url(ctx.settings, id_of(inner.get("object")) or "")
    if group is None:
        raise Ignored("Undo{Follow} of something that is not a group here")
    await receive_unfollow(group, ctx.actor)


async def _undo_moderation(ctx: InboundContext, kind: str, inner: dict) -> None:
    undo = {**ctx.activity, "object": inner}
    try:
        if kind == "Lock":
            await receive_lock(ctx.settings, undo, locked=False)
        elif kind == "Block":
            await receive_unban(ctx.settings, undo)
        elif await is_moderation_of(inner):
            await receive_restore(ctx.settings, undo)
        else:
            await receive_undelete(ctx.settings, undo)
    except Refused as refusal:
        raise Ignored(str(refusal)) from None
