"""Passing a member's activity to one person, unchanged: poll votes to the poll's author,
RSVPs to the event's organizer. Never to the group's members.

This is ActivityPub's inbox forwarding: the body is the member's own activity with its own
id, sent to the recipient's personal inbox and signed (HTTP) by the group. The recipient
believes it by the member's embedded signature or by fetching it from the member's server,
as it would any forwarded activity; the member's server has usually sent it there too, and
receivers deduplicate by id.
"""

from __future__ import annotations

import logging
from typing import Any

from ..activitypub.signed_fetch import Fetcher
from ..config import Settings
from ..storage.models import Group
from .actors import ActorLookupError, get_actor
from .ids import derived_id
from .outbound import queue_activity
from .outcomes import Refused

log = logging.getLogger(__name__)


async def pass_to(
    settings: Settings, fetcher: Fetcher, group: Group, activity: dict[str, Any], recipient: str
) -> None:
    """Forward `activity` to `recipient` alone (idempotent: one row per activity and person)."""
    try:
        person = await get_actor(fetcher, recipient)
    except ActorLookupError as exc:
        raise Refused(f"cannot pass {activity['id']} to {recipient}: {exc}") from None
    await queue_activity(
        activity,
        group=group,
        inboxes=[person.inbox],
        stored_as=derived_id(settings, "forward", group.name, f"{activity['id']} {recipient}"),
    )
