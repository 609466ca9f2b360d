"""Lock: a group moderator locks a post, as Lemmy sends it (no more replies under it)."""

from __future__ import annotations

from ...service.outcomes import Refused
from ...service.remote_moderation import receive_lock
from .context import Ignored, InboundContext


async def handle(ctx: InboundContext) -> None:
    try:
        await receive_lock(ctx.settings, ctx.activity, locked=True)
    except Refused as refusal:
        raise Ignored(str(refusal)) from None
