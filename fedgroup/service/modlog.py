"""The moderation log: every decision about a group or the server, with who, what, why, when.

Every moderation operation in the service layer (bans, removals, pins, locks, approvals,
reports, domain policies) calls `record` once it has done its work, in the same code path
whether an admin typed it, a moderator's activity asked for it, or a rule decided it. The
log is never edited: a decision that is undone is a second entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ..storage.models import Group, ModlogEntry

#: Who a decision made with the admin CLI is recorded as.
ADMIN = "admin"
#: Who a decision made by a rule of this server (a domain policy holding a post) is recorded as.
AUTOMATIC = "automatic"


class ModAction(StrEnum):
    """What was decided; the names are what `modlog --json` prints."""

    BAN = "ban"
    UNBAN = "unban"
    APPROVE_MEMBER = "approve_member"
    REJECT_MEMBER = "reject_member"
    REMOVE_MEMBER = "remove_member"
    HOLD_POST = "hold_post"
    APPROVE_POST = "approve_post"
    REJECT_POST = "reject_post"
    ADD_MODERATOR = "add_moderator"
    REMOVE_MODERATOR = "remove_moderator"
    REMOVE_POST = "remove_post"
    RESTORE_POST = "restore_post"
    PIN_POST = "pin_post"
    UNPIN_POST = "unpin_post"
    LOCK_POST = "lock_post"
    UNLOCK_POST = "unlock_post"
    REPORT = "report"
    RESOLVE_REPORT = "resolve_report"
    SET_POLICY = "set_policy"
    CLEAR_POLICY = "clear_policy"


@dataclass(frozen=True)
class LoggedDecision:
    """A log entry as shown to admins (and, when a group publishes it, to everyone)."""

    id: int
    group: str | None
    moderator: str
    action: str
    target: str
    reason: str
    at: datetime


async def record(
    action: ModAction | str,
    *,
    group: Group | None,
    moderator: str = ADMIN,
    target: str = "",
    reason: str = "",
) -> ModlogEntry:
    """Write one decision to the log (group None: a server-wide decision)."""
    return await ModlogEntry.create(
        group=group,
        moderator=moderator,
        action=str(action),
        target=target,
        reason=reason or "",
    )


async def entries(group: Group | None = None, *, limit: int = 100) -> list[LoggedDecision]:
    """The newest decisions first: one group's, or (group None) every decision here."""
    query = ModlogEntry.all()
    if group is not None:
        query = query.filter(group=group)
    rows = await query.order_by("-id").limit(limit).prefetch_related("group")
    return [
        LoggedDecision(
            id=row.id,
            group=row.group.name if row.group is not None else None,
            moderator=row.moderator,
            action=row.action,
            target=row.target,
            reason=row.reason,
            at=row.created_at,
        )
        for row in rows
    ]
