"""Delete: an account deleted by its own server takes its memberships and content with it."""

from __future__ import annotations

from ...service.actors import forget_actor
from ...service.content import remove_content_of
from ...service.membership import forget_deleted_actor
from ..vocab import id_of
from .context import Ignored, InboundContext


async def handle(ctx: InboundContext) -> None:
    target = id_of(ctx.activity.get("object"))
    if target == ctx.actor:
        await forget_deleted_actor(ctx.actor)
        await remove_content_of(ctx.actor)
        await forget_actor(ctx.actor)
        return
    raise Ignored("Delete of an object is handled with group conversations")
