"""Names of deleted groups: reserved, so nobody takes over an address others still know.

A member's server that missed the `Delete` (down that week) still holds the old group; a new
group under the same name would receive its members' posts and could impersonate it. So a
deleted name is refused until `group_name_reuse_after` has passed and the operator asks for
it explicitly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..storage.models import GroupTombstone
from .errors import Reserved


async def tombstone_of(name: str) -> GroupTombstone | None:
    return await GroupTombstone.get_or_none(name=name) if isinstance(name, str) else None


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def reusable_tombstone(name: str, *, reuse_after: int | None) -> GroupTombstone | None:
    """The tombstone a new group named `name` replaces (None if the name was never used), or
    Reserved saying when the name may be taken.

    `reuse_after` is None unless the operator asked to reuse the name (`--allow-reuse`); then
    a tombstone older than that many seconds may go. The caller deletes it in the
    transaction that creates the group.
    """
    tombstone = await tombstone_of(name)
    if tombstone is None:
        return None
    free_from = tombstone.deleted_at + timedelta(seconds=reuse_after or 0)
    if reuse_after is None:
        raise Reserved(
            f"group name {name!r} belonged to a group deleted on {_day(tombstone.deleted_at)}; "
            f"other servers may still know it. It can be reused from {_day(free_from)} "
            "with --allow-reuse"
        )
    if tombstone.settled_at is None:
        raise Reserved(
            f"group name {name!r} belonged to a group deleted on {_day(tombstone.deleted_at)} "
            "whose Delete is still being delivered to its members' servers; try again later"
        )
    if datetime.now(UTC) < free_from:
        raise Reserved(
            f"group name {name!r} belonged to a group deleted on {_day(tombstone.deleted_at)}; "
            f"it can be reused from {_day(free_from)}"
        )
    return tombstone
