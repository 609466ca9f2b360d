"""How a moderation decision reaches members' servers: the moderation activity, announced.

FEP-1b12 software (Lemmy, Mbin, PieFed) learns of a moderator's action from the group's
`Announce` of it, as Lemmy's own communities send them: `Announce{Add}` of a moderator or a
pinned post, `Announce{Lock}`, `Announce{Delete}` of a removed post, and their Undos. A
remote moderator's own activity is announced unchanged. A decision made with the admin CLI
has no person behind it on the fediverse; its activity is the instance actor's (`/actor`),
on the group's own domain, which Lemmy takes as an instance admin's action.
"""

from __future__ import annotations

from typing import Any

from ..activitypub import builders
from ..activitypub.actors import group_urls, instance_actor_url
from ..activitypub.vocab import PUBLIC
from ..config import Settings
from ..storage.models import Group
from . import modlog
from .conversations import audience_of
from .ids import derived_id
from .outbound import queue_activity
from .profile import lifecycle_addressing


def acting_actor(settings: Settings, by: str) -> str:
    """The actor a decision is sent as: the moderator's own, or the instance actor for the
    admin CLI and the server's rules."""
    if by in (modlog.ADMIN, modlog.AUTOMATIC):
        return instance_actor_url(settings.base_url)
    return by


def addressed_to(settings: Settings, group: Group) -> list[str]:
    """`to` of a moderation activity: public for a public open group, else its followers
    (Lemmy refuses Public from a community that approves its followers)."""
    return lifecycle_addressing(settings, group)[0]


async def announce_moderation(
    settings: Settings,
    group: Group,
    inner: dict[str, Any],
    *,
    ours: bool,
    context: str | None = None,
) -> dict[str, Any]:
    """Queue the group's Announce of a moderation activity to its FEP-1b12 members.

    `ours`: the activity was minted here (the admin CLI); it is stored so that receivers
    can fetch it at its id. A remote moderator's activity is theirs, announced as received.
    """
    if ours:
        await queue_activity(inner, group=group, inboxes=[])
    urls = group_urls(settings.base_url, group.name)
    audience = await audience_of(group)
    wrapped = builders.announce_wrapped(
        derived_id(settings, "announce", group.name, inner["id"]),
        urls.actor,
        urls.followers,
        inner,
        public=PUBLIC in addressed_to(settings, group),
        context=context,
    )
    await queue_activity(wrapped, group=group, inboxes=audience.wrapped)
    return wrapped
