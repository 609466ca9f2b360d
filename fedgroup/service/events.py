"""Events (meet-ups) in a group: announced like posts; answers to them go to the organizer.

An `Event` posted to the group is stored with its start and end (threads.store_in_thread)
and announced like any post. A member's RSVP that reaches the group (`Accept`,
`TentativeAccept` or `Reject` of the Event as Friendica sends them, `Join` or `Leave` as
Mobilizon does, or the `Undo` of one) is the organizer's business: it is passed to the
event's author alone (forwarding.pass_to), never announced.
"""

from __future__ import annotations

from typing import Any

from ..activitypub.actor_docs import actor_of
from ..activitypub.events import rsvp_target
from ..activitypub.signed_fetch import Fetcher
from ..config import Settings
from ..storage.models import Group, StoredObject
from .forwarding import pass_to
from .outcomes import Refused


async def receive_rsvp(
    settings: Settings, fetcher: Fetcher, activity: dict[str, Any], answer: dict[str, Any]
) -> None:
    """Pass a member's answer to an event in a group (`answer`; inside `activity` when that
    is its Undo) to the event's organizer."""
    from .conversations import check_may_post

    target = rsvp_target(answer)
    event = await StoredObject.get_or_none(ap_id=target or "")
    if event is None or event.group_id is None or event.type != "Event":
        raise Refused(f"an answer to {target}, which is not an event in a group here")
    if event.deleted:
        raise Refused(f"an answer to {target}, which was deleted")
    group = await Group.get(id=event.group_id)
    await check_may_post(settings, group, actor_of(activity) or "", {"inReplyTo": target})
    await pass_to(settings, fetcher, group, activity, event.attributed_to)
