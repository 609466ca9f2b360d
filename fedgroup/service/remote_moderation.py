"""Moderation activities sent by a group's remote moderators, as Lemmy sends them.

A moderator on Lemmy (or any software that speaks its dialect) moderates our group from
their own server: `Delete` of someone else's post with a `summary` (a removal) and its
`Undo`, `Lock` and `Undo{Lock}`, `Add`/`Remove` of a post to the group's `featured`
collection, `Block` of a person with the group as `target` (a ban, `removeData` purging their
posts, `endTime` its end) and `Undo{Block}`. Each is carried out only when its actor is a
moderator of the group holding the post (the activity's signature has proven who the actor
is); then the group announces it unchanged to its FEP-1b12 members and logs it under the
moderator's actor URL. Anything else is Refused with the reason.

Who moderates is the admin's decision: an `Add`/`Remove` to the `moderators` collection
from a remote moderator is refused.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from ..activitypub.actor_docs import actor_of
from ..activitypub.actors import group_urls
from ..activitypub.signed_fetch import Fetcher
from ..activitypub.versions import parse_time
from ..activitypub.vocab import id_of
from ..config import Settings
from ..storage.models import Group, StoredObject
from . import bans, moderation
from .errors import ServiceError
from .membership import get_group_by_url, is_moderator
from .outcomes import Refused


async def _moderated_post(activity: dict[str, Any]) -> tuple[Group, StoredObject, str]:
    """The group post the activity acts on, its group, and the moderator acting."""
    actor = actor_of(activity) or ""
    object_id = id_of(activity.get("object"))
    post = await StoredObject.get_or_none(ap_id=object_id or "")
    if post is None or post.group_id is None or post.thread_id is None:
        raise Refused(f"{object_id} is not a post in a group here")
    group = await Group.get(id=post.group_id)
    await _require_moderator(group, actor)
    return group, post, actor


async def _require_moderator(group: Group, actor: str) -> None:
    if not await is_moderator(group, actor):
        raise Refused(f"{actor} is not a moderator of {group.name}")


def _reason(activity: dict[str, Any]) -> str:
    summary = activity.get("summary")
    return summary[:1000] if isinstance(summary, str) else ""


async def _carry_out(operation: Any) -> None:
    """Run a moderation operation; one refused as already done (a replay) is Refused."""
    try:
        await operation
    except ServiceError as exc:
        raise Refused(str(exc)) from None


async def is_moderation_of(activity: dict[str, Any]) -> bool:
    """Whether a `Delete` is of a group post by someone other than its author: a removal."""
    post = await StoredObject.get_or_none(ap_id=id_of(activity.get("object")) or "")
    return (
        post is not None and post.group_id is not None and post.attributed_to != actor_of(activity)
    )


async def receive_removal(settings: Settings, activity: dict[str, Any]) -> None:
    """A moderator's `Delete` of someone else's post: the post is removed."""
    group, post, actor = await _moderated_post(activity)
    await _carry_out(
        moderation.remove_post(
            settings, group, post, by=actor, reason=_reason(activity), activity=activity
        )
    )


async def receive_restore(settings: Settings, undo: dict[str, Any]) -> None:
    """`Undo{Delete}` by a moderator: the removed post is back."""
    group, post, actor = await _moderated_post(undo["object"])
    await _carry_out(
        moderation.restore_post(
            settings, group, post, by=actor, reason=_reason(undo), activity=undo
        )
    )


async def receive_lock(settings: Settings, activity: dict[str, Any], *, locked: bool) -> None:
    """`Lock` (or, with locked False, `Undo{Lock}`) of a post by a moderator."""
    lock = activity if locked else activity["object"]
    group, post, actor = await _moderated_post(lock)
    await _carry_out(
        moderation.set_locked(
            settings, group, post, locked, by=actor, reason=_reason(activity), activity=activity
        )
    )


async def receive_collection_change(settings: Settings, activity: dict[str, Any]) -> None:
    """`Add`/`Remove` of a post to a group's `featured` collection by a moderator."""
    target = id_of(activity.get("target")) or ""
    group = await _group_of_collection(settings, target)
    urls = group_urls(settings.base_url, group.name)
    if target == urls.moderators:
        raise Refused(f"moderators of {group.name} are named by this server's admin")
    if target != urls.featured:
        raise Refused(f"{target} is not a collection moderators change")
    post_group, post, actor = await _moderated_post(activity)
    if post_group.id != group.id:
        raise Refused(f"{post.ap_id} is not a post of {group.name}")
    pinned = activity.get("type") == "Add"
    await _carry_out(
        moderation.set_pinned(
            settings, group, post, pinned, by=actor, reason=_reason(activity), activity=activity
        )
    )


async def _group_of_collection(settings: Settings, target: str) -> Group:
    owner = target.rsplit("/", 1)[0] if "/" in target else ""
    group = await get_group_by_url(settings, owner)
    if group is None:
        raise Refused(f"{target or 'no target'} is not a collection of a group here")
    return group


async def receive_ban(settings: Settings, fetcher: Fetcher, activity: dict[str, Any]) -> None:
    """`Block` of a person with the group as `target`, by a moderator: a ban of that person
    from the group (their posts removed with `removeData`; ending at `endTime`)."""
    group = await _target_group(settings, activity)
    actor = actor_of(activity) or ""
    await _require_moderator(group, actor)
    banned = id_of(activity.get("object")) or ""
    if not banned.startswith(("http://", "https://")):
        raise Refused("Block names no person to ban")
    if await is_moderator(group, banned):
        raise Refused(f"{banned} is a moderator of {group.name}; only the admin removes one")
    await _carry_out(
        bans.ban_actor(
            settings,
            group,
            banned,
            _reason(activity),
            fetcher=fetcher,
            by=actor,
            days=_days_until(activity.get("endTime")),
            purge=activity.get("removeData") is True,
        )
    )


async def receive_unban(settings: Settings, undo: dict[str, Any]) -> None:
    """`Undo{Block}` by a moderator: the ban on that person is lifted."""
    block = undo["object"]
    group = await _target_group(settings, block)
    actor = actor_of(undo) or ""
    await _require_moderator(group, actor)
    await _carry_out(bans.unban(group, id_of(block.get("object")) or "", by=actor))


async def _target_group(settings: Settings, activity: dict[str, Any]) -> Group:
    group = await get_group_by_url(settings, id_of(activity.get("target")) or "")
    if group is None:
        raise Refused("Block whose target is not a group here")
    return group


def _days_until(end: Any) -> int | None:
    """Whole days (rounded up) from now to a Block's `endTime`; None for no end (or one so
    far away that it is no end)."""
    moment = parse_time(end) if isinstance(end, str) else None
    if moment is None:
        return None
    seconds = (moment - datetime.now(UTC)).total_seconds()
    if seconds <= 0:
        raise Refused(f"a ban that ended already ({end})")
    days = max(1, math.ceil(seconds / 86400))
    return days if days <= bans.MAX_BAN_DAYS else None
