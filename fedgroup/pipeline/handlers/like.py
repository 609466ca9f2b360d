"""Like and Dislike of a group post: votes, passed on to FEP-1b12 members."""

from __future__ import annotations

from ...service.conversations import LATE_OBJECT_WAIT, Pending, Refused, receive_reaction
from .context import Deferred, Ignored, InboundContext


async def handle(ctx: InboundContext) -> None:
    try:
        await receive_reaction(ctx.settings, ctx.activity)
    except Pending as waiting:
        # Woken as soon as the post arrives (conversations.wake_waiting_for).
        raise Deferred(
            str(waiting), retry_after=LATE_OBJECT_WAIT, give_up_after=LATE_OBJECT_WAIT
        ) from None
    except Refused as refusal:
        raise Ignored(str(refusal)) from None
