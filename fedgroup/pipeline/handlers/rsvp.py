"""Accept/TentativeAccept/Reject/Join/Leave of an Event: an RSVP, passed to its organizer."""

from __future__ import annotations

from ...service.events import receive_rsvp
from ...service.outcomes import Refused
from .context import Ignored, InboundContext


async def handle(ctx: InboundContext) -> None:
    try:
        await receive_rsvp(ctx.settings, ctx.fetcher, ctx.activity, ctx.activity)
    except Refused as refusal:
        raise Ignored(str(refusal)) from None
