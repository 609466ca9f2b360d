"""Moderating posts: remove and restore, pin and unpin, lock and unlock.

The same operations serve the admin CLI (`posts …`, as `admin`) and moderators' own
activities (a Lemmy moderator's `Delete`, `Lock`, `Add` to featured…, as that moderator).
Each changes what the group holds, is logged, and reaches members' servers:

- FEP-1b12 software gets the group's `Announce` of the moderation activity (the remote
  moderator's own, unchanged; or one the instance actor sends for the admin CLI):
  `Delete` with the reason as `summary` (a removal, as Lemmy sends it) and `Undo{Delete}`,
  `Lock` and `Undo{Lock}`, `Add`/`Remove` with the `featured` collection as target.
- Microblogging software is shown boosts, so a removal undoes the boost (`Undo{Announce}`)
  and a restore boosts the post again; pins and locks mean nothing there (Mastodon pins
  only an account's own statuses, and has no locks).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..activitypub import builders
from ..activitypub.actors import group_urls
from ..config import Settings
from ..storage.models import Activity, Group, StoredObject
from . import modlog, threads
from .conversations import boost_again, withdraw_from_microblogs
from .errors import InvalidValue, NotFound
from .ids import new_activity_id
from .modactions import acting_actor, addressed_to, announce_moderation


async def find_post(group: Group, url: str) -> StoredObject:
    """A post of `group` by its id (as the author's server names it)."""
    post = await StoredObject.get_or_none(ap_id=url.strip(), group=group)
    if post is None or post.thread_id is None:
        raise NotFound(f"no post {url} in {group.name}")
    if post.deleted:
        raise InvalidValue(f"{url} was deleted by its author")
    return post


async def remove_post(
    settings: Settings,
    group: Group,
    post: StoredObject,
    *,
    by: str = modlog.ADMIN,
    reason: str = "",
    activity: dict[str, Any] | None = None,
) -> None:
    """Take a post out of the group (restorable); `activity` is a remote moderator's own
    `Delete`, announced unchanged (else the instance actor's is minted)."""
    if post.removed:
        raise InvalidValue(f"{post.ap_id} is already removed")
    post.removed = True
    await post.save(update_fields=["removed"])
    inner = activity or _minted(settings, group, "Delete", post.ap_id, by, summary=reason)
    await _announce(settings, group, post, inner, ours=activity is None)
    await withdraw_from_microblogs(settings, group, post)
    await modlog.record(
        modlog.ModAction.REMOVE_POST, group=group, moderator=by, target=post.ap_id, reason=reason
    )


async def restore_post(
    settings: Settings,
    group: Group,
    post: StoredObject,
    *,
    by: str = modlog.ADMIN,
    reason: str = "",
    activity: dict[str, Any] | None = None,
) -> None:
    """Put a removed post back: `Undo{Delete}` to FEP-1b12 members, a new boost to
    microblogging ones."""
    if not post.removed:
        raise InvalidValue(f"{post.ap_id} is not removed")
    post.removed = False
    await post.save(update_fields=["removed"])
    ours = activity is None
    if activity is None:
        activity = await _undo_of_latest("Delete", settings, group, post, by, reason)
    if activity is not None:
        await _announce(settings, group, post, activity, ours=ours)
    await boost_again(settings, group, post)
    await modlog.record(
        modlog.ModAction.RESTORE_POST, group=group, moderator=by, target=post.ap_id, reason=reason
    )


async def set_pinned(
    settings: Settings,
    group: Group,
    post: StoredObject,
    pinned: bool,
    *,
    by: str = modlog.ADMIN,
    reason: str = "",
    activity: dict[str, Any] | None = None,
) -> None:
    """Pin a post to the group's `featured` collection, or unpin it (`Add`/`Remove`)."""
    if post.removed:
        raise InvalidValue(f"{post.ap_id} is removed; restore it first")
    if (post.pinned_at is not None) == pinned:
        raise InvalidValue(f"{post.ap_id} is {'already' if pinned else 'not'} pinned")
    post.pinned_at = datetime.now(UTC) if pinned else None
    await post.save(update_fields=["pinned_at"])
    featured = group_urls(settings.base_url, group.name).featured
    kind = "Add" if pinned else "Remove"
    inner = activity or _minted(settings, group, kind, post.ap_id, by, target=featured)
    await _announce(settings, group, post, inner, ours=activity is None)
    action = modlog.ModAction.PIN_POST if pinned else modlog.ModAction.UNPIN_POST
    await modlog.record(action, group=group, moderator=by, target=post.ap_id, reason=reason)


async def set_locked(
    settings: Settings,
    group: Group,
    post: StoredObject,
    locked: bool,
    *,
    by: str = modlog.ADMIN,
    reason: str = "",
    activity: dict[str, Any] | None = None,
) -> None:
    """Lock a post (no more replies to it or under it) or unlock it (`Lock`, `Undo{Lock}`)."""
    if post.locked == locked:
        raise InvalidValue(f"{post.ap_id} is {'already' if locked else 'not'} locked")
    post.locked = locked
    await post.save(update_fields=["locked"])
    ours = activity is None
    if activity is None:
        if locked:
            activity = _minted(settings, group, "Lock", post.ap_id, by, summary=reason)
        else:
            activity = await _undo_of_latest("Lock", settings, group, post, by, reason)
    if activity is not None:
        await _announce(settings, group, post, activity, ours=ours)
    action = modlog.ModAction.LOCK_POST if locked else modlog.ModAction.UNLOCK_POST
    await modlog.record(action, group=group, moderator=by, target=post.ap_id, reason=reason)


def _minted(
    settings: Settings,
    group: Group,
    kind: str,
    object_id: str,
    by: str,
    *,
    target: str | None = None,
    summary: str = "",
) -> dict[str, Any]:
    return builders.moderation(
        kind,
        new_activity_id(settings),
        acting_actor(settings, by),
        group_urls(settings.base_url, group.name).actor,
        object_id,
        to=addressed_to(settings, group),
        target=target,
        summary=summary or None,
    )


def _minted_undo(
    settings: Settings, group: Group, undone: dict[str, Any], by: str, reason: str
) -> dict[str, Any]:
    return builders.undo_moderation(
        new_activity_id(settings),
        acting_actor(settings, by),
        group_urls(settings.base_url, group.name).actor,
        undone,
        reason,
    )


async def _undo_of_latest(
    kind: str, settings: Settings, group: Group, post: StoredObject, by: str, reason: str
) -> dict[str, Any] | None:
    """Our Undo of the last `kind` moderation of a post; None when there is none left to
    undo (pruned), and then nothing is announced."""
    undone = await _latest_moderation(kind, post)
    return _minted_undo(settings, group, undone, by, reason) if undone else None


async def _latest_moderation(kind: str, post: StoredObject) -> dict[str, Any] | None:
    """The last moderation activity of `kind` on a post (ours, or a remote moderator's
    that was carried out): what an Undo of it must embed."""
    row = (
        await Activity.filter(type=kind, object_id=post.ap_id)
        .exclude(actor=post.attributed_to)
        .order_by("-id")
        .first()
    )
    return row.payload if row is not None else None


async def _announce(
    settings: Settings, group: Group, post: StoredObject, inner: dict[str, Any], *, ours: bool
) -> None:
    await announce_moderation(
        settings, group, inner, ours=ours, context=threads.context_of(settings, group, post)
    )
