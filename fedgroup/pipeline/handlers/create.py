"""Create: a member posts (a Mastodon mention, a Lemmy post or comment, a reply)."""

from __future__ import annotations

from ...service.conversations import Refused, receive_post
from .context import Ignored, InboundContext


async def handle(ctx: InboundContext) -> None:
    try:
        await receive_post(ctx.settings, ctx.fetcher, ctx.activity)
    except Refused as refusal:
        raise Ignored(str(refusal)) from None
