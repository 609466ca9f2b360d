"""Add and Remove: a group moderator pins or unpins a post (target: the group's `featured`)."""

from __future__ import annotations

from ...service.outcomes import Refused
from ...service.remote_moderation import receive_collection_change
from .context import Ignored, InboundContext


async def handle(ctx: InboundContext) -> None:
    try:
        await receive_collection_change(ctx.settings, ctx.activity)
    except Refused as refusal:
        raise Ignored(str(refusal)) from None
