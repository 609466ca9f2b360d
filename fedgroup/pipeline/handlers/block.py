"""Block: a group moderator bans a person from the group (target: the group), as Lemmy does."""

from __future__ import annotations

from ...service.outcomes import Refused
from ...service.remote_moderation import receive_ban
from .context import Ignored, InboundContext


async def handle(ctx: InboundContext) -> None:
    try:
        await receive_ban(ctx.settings, ctx.fetcher, ctx.activity)
    except Refused as refusal:
        raise Ignored(str(refusal)) from None
