"""Moderators: fediverse actors named by the admin, published in the group's `moderators`
collection (its `attributedTo`, as Lemmy reads it), whose moderation activities the group
carries out, and who may post where posting is restricted to moderators.

A change is logged and announced to FEP-1b12 members as Lemmy announces it
(`Announce{Add|Remove}` of the person, target the collection); Lemmy also rereads the
collection when it refreshes the group. Microblogging software has no moderators to show.
"""

from __future__ import annotations

from ..activitypub import builders
from ..activitypub.actors import group_urls
from ..activitypub.signed_fetch import Fetcher
from ..config import Settings
from ..storage.models import Group, Moderator
from . import modlog
from .actors import ActorLookupError, get_actor
from .bans import actor_url_of
from .errors import InvalidValue, NotFound
from .ids import new_activity_id
from .membership import is_banned
from .modactions import acting_actor, addressed_to, announce_moderation


async def list_moderators(group: Group) -> list[Moderator]:
    """The group's moderators, in the order they were named."""
    return await Moderator.filter(group=group).order_by("id")


async def add_moderator(
    settings: Settings, fetcher: Fetcher, group: Group, who: str, *, by: str = modlog.ADMIN
) -> Moderator:
    """Name `who` (handle or actor URL) a moderator of the group and tell members' servers.

    The actor must exist: it is fetched (through the guarded fetcher) before it is named."""
    actor_url = await actor_url_of(who, fetcher)
    if await Moderator.exists(group=group, actor_url=actor_url):
        raise InvalidValue(f"{who} is already a moderator of {group.name}")
    if await is_banned(group, actor_url):
        raise InvalidValue(f"{who} is banned from {group.name}; lift the ban first")
    try:
        await get_actor(fetcher, actor_url)
    except ActorLookupError as exc:
        raise InvalidValue(f"cannot name {who} a moderator: {exc.reason}") from None
    moderator = await Moderator.create(group=group, actor_url=actor_url, added_by=by)
    await _announce_change(settings, group, "Add", actor_url, by)
    await modlog.record(modlog.ModAction.ADD_MODERATOR, group=group, moderator=by, target=actor_url)
    return moderator


async def remove_moderator(
    settings: Settings, group: Group, who: str, *, by: str = modlog.ADMIN
) -> str:
    """Stop `who` moderating the group and tell members' servers; returns the actor URL."""
    actor_url = await _moderator_url(group, who)
    await Moderator.filter(group=group, actor_url=actor_url).delete()
    await _announce_change(settings, group, "Remove", actor_url, by)
    await modlog.record(
        modlog.ModAction.REMOVE_MODERATOR, group=group, moderator=by, target=actor_url
    )
    return actor_url


async def _moderator_url(group: Group, who: str) -> str:
    try:
        actor_url = await actor_url_of(who)
    except NotFound:
        actor_url = who.strip()
    if not await Moderator.exists(group=group, actor_url=actor_url):
        raise NotFound(f"{who} is not a moderator of {group.name}")
    return actor_url


async def _announce_change(
    settings: Settings, group: Group, kind: str, actor_url: str, by: str
) -> None:
    urls = group_urls(settings.base_url, group.name)
    change = builders.moderation(
        kind,
        new_activity_id(settings),
        acting_actor(settings, by),
        urls.actor,
        actor_url,
        to=addressed_to(settings, group),
        target=urls.moderators,
    )
    await announce_moderation(settings, group, change, ours=True)
