"""Follow of a group: the way anyone joins, from any fediverse software."""

from __future__ import annotations

from ...activitypub.vocab import id_of
from ...service.actors import get_actor
from ...service.membership import get_group_by_url, receive_follow
from ...service.nodeinfo import learn_software
from .context import Ignored, InboundContext


async def handle(ctx: InboundContext) -> None:
    target = id_of(ctx.activity.get("object"))
    group = await get_group_by_url(ctx.settings, target or "")
    if group is None:
        raise Ignored(f"Follow of {target!r}, which is not a group here")
    actor = await get_actor(ctx.fetcher, ctx.actor)
    await learn_software(ctx.fetcher, actor.url)
    await receive_follow(ctx.settings, group, actor, ctx.activity)
