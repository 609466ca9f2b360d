"""Update: the author edited a post the group announced."""

from __future__ import annotations

from ...activitypub.vocab import id_of
from ...service.conversations import Refused, receive_update
from .context import Ignored, InboundContext


async def handle(ctx: InboundContext) -> None:
    if id_of(ctx.activity.get("object")) == ctx.actor:
        raise Ignored("profile update: the cached actor refreshes on its next key check")
    try:
        await receive_update(ctx.settings, ctx.fetcher, ctx.activity)
    except Refused as refusal:
        raise Ignored(str(refusal)) from None
