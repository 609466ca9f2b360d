"""Like and Dislike of a group post: votes, passed on to FEP-1b12 members."""

from __future__ import annotations

from ...service.conversations import Refused, receive_reaction
from .context import Ignored, InboundContext


async def handle(ctx: InboundContext) -> None:
    try:
        await receive_reaction(ctx.settings, ctx.activity)
    except Refused as refusal:
        raise Ignored(str(refusal)) from None
