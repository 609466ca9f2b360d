"""Polls in a group: a member's vote goes to the poll's author alone, never to everyone.

The group announces a poll like any post, and its results (the author's `Update`s of the
`Question`) like any edit (conversations.receive_update; activitypub.versions orders them).
A vote that reaches the group, because the voter's software addressed the group, is a
ballot: it is passed to the poll's author (forwarding.pass_to) and to nobody else.
"""

from __future__ import annotations

from typing import Any

from ..activitypub.actor_docs import actor_of
from ..activitypub.addressing import in_reply_to
from ..activitypub.polls import option_names
from ..activitypub.signed_fetch import Fetcher
from ..config import Settings
from ..storage.models import Group, StoredObject
from .forwarding import pass_to
from .outcomes import Refused


async def receive_vote(
    settings: Settings, fetcher: Fetcher, activity: dict[str, Any], vote: dict[str, Any]
) -> None:
    """Pass a member's vote on a poll in a group to the poll's author."""
    from .conversations import check_may_post

    question = await StoredObject.get_or_none(ap_id=in_reply_to(vote) or "")
    if question is None or question.group_id is None or question.type != "Question":
        raise Refused("a vote for a poll that is not in a group here")
    if question.deleted:
        raise Refused(f"a vote for {question.ap_id}, which was deleted")
    if vote.get("name") not in option_names(question.document):
        raise Refused(f"a vote for an option {question.ap_id} does not offer")
    group = await Group.get(id=question.group_id)
    await check_may_post(settings, group, actor_of(activity) or "", vote)
    await pass_to(settings, fetcher, group, activity, question.attributed_to)
