"""Delete: of an account (memberships and content go), of a post by its author (withdrawn
from members), or of someone else's post by a group moderator (a removal, as Lemmy sends it)."""

from __future__ import annotations

from ...activitypub.vocab import id_of
from ...service.actors import forget_actor
from ...service.content import remove_content_of
from ...service.conversations import Refused, receive_delete
from ...service.membership import forget_deleted_actor
from ...service.remote_moderation import is_moderation_of, receive_removal
from .context import Ignored, InboundContext


async def handle(ctx: InboundContext) -> None:
    target = id_of(ctx.activity.get("object"))
    if target == ctx.actor:
        await forget_deleted_actor(ctx.actor)
        await remove_content_of(ctx.actor)
        await forget_actor(ctx.actor)
        return
    try:
        if await is_moderation_of(ctx.activity):
            await receive_removal(ctx.settings, ctx.activity)
            return
        await receive_delete(ctx.settings, ctx.activity)
    except Refused as refusal:
        raise Ignored(str(refusal)) from None
