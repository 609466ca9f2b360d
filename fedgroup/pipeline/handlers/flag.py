"""Flag: a report about a group's post or member (Mastodon's, Lemmy's and Mbin's shapes)."""

from __future__ import annotations

from ...service.outcomes import Refused
from ...service.reports import receive_flag
from .context import Ignored, InboundContext


async def handle(ctx: InboundContext) -> None:
    try:
        await receive_flag(ctx.settings, ctx.activity)
    except Refused as refusal:
        raise Ignored(str(refusal)) from None
