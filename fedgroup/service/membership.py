"""Membership: who is in a group, who waits for approval, and telling their servers.

The same operations serve the inbound Follow/Undo handlers, the admin CLI and (later)
moderators. Every decision the member's server must learn of is queued as an outbound
activity, so a restart between the decision and the delivery loses nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from ..activitypub import builders
from ..activitypub.actors import group_urls
from ..activitypub.hosts import authority_or_none
from ..config import Settings
from ..storage.models import (
    Ban,
    Group,
    Membership,
    MembershipMode,
    MembershipState,
    Moderator,
    RemoteActor,
)
from . import modlog
from .errors import InvalidValue, NotFound
from .ids import derived_id, new_activity_id
from .outbound import delivery_notifier, queue_activity
from .policies import domain_covers, treatment_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FollowOutcome:
    state: str  # "accepted" | "pending" | "rejected"
    reason: str = ""


async def is_moderator(group: Group, actor_url: str) -> bool:
    """Whether the actor moderates the group (its moderation activities are carried out)."""
    return await Moderator.exists(group=group, actor_url=actor_url)


async def is_banned(group: Group, actor_url: str) -> bool:
    """Banned from this group or from the whole server, by actor or by domain, and the
    ban has not expired."""
    bans = await Ban.filter(Q(group_id=group.id) | Q(group_id=None)).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=datetime.now(UTC))
    )
    return any(
        (ban.actor_url and ban.actor_url == actor_url)
        or (ban.domain and domain_covers(ban.domain, actor_url))
        for ban in bans
    )


async def _send(group: Group, payload: dict[str, Any], inbox: str) -> None:
    await queue_activity(payload, group=group, inboxes=[inbox])


def _group_url(settings: Settings, group: Group) -> str:
    return group_urls(settings.base_url, group.name).actor


async def receive_follow(
    settings: Settings, group: Group, actor: RemoteActor, follow: dict[str, Any]
) -> FollowOutcome:
    """A Follow of the group: accept, hold for approval, or reject a banned follower.

    Someone from a silenced (limited) domain needs approval, as in an approval group; one
    from a domain suspended in this group is refused and told nothing (nothing is
    delivered there). Idempotent: Mastodon re-sends Follows, and a member's repeat gets
    Accept again.
    """
    group_url = _group_url(settings, group)
    treatment = await treatment_of(settings, actor.url, group)
    if treatment.suspended:
        log.info("follow of %s by %s refused: %s", group.name, actor.url, treatment.why)
        return FollowOutcome("rejected", treatment.why)
    if await is_banned(group, actor.url):
        reject_id = derived_id(settings, "reject", group.name, follow["id"])
        reject = builders.reject_follow(reject_id, group_url, follow)
        await _send(group, reject, actor.inbox)
        return FollowOutcome("rejected", "banned")
    # The membership and the Accept that tells its server are one commit: both or neither.
    async with in_transaction():
        membership = await Membership.get_or_none(group=group, actor=actor)
        if membership is None:
            state = (
                MembershipState.PENDING
                if group.membership_mode == MembershipMode.APPROVAL or treatment.silenced
                else MembershipState.ACCEPTED
            )
            membership = await Membership.create(
                group=group, actor=actor, state=state, follow_activity=follow
            )
        else:
            membership.follow_activity = follow
            changed = ["follow_activity", "updated_at"]
            if membership.state == MembershipState.MOVED:
                # A member of the group at its old address whose server followed it here:
                # approved there already, and this Follow is their consent to the move.
                membership.state = MembershipState.ACCEPTED
                changed.append("state")
            await membership.save(update_fields=changed)
        if membership.state != MembershipState.PENDING:
            accept_id = derived_id(settings, "accept", group.name, follow["id"])
            accept = builders.accept_follow(accept_id, group_url, follow)
            await _send(group, accept, actor.inbox)
    if membership.state == MembershipState.PENDING:
        log.info("follow of %s by %s awaits approval", group.name, actor.url)
        return FollowOutcome("pending")
    delivery_notifier.notify()  # again, now that the Accept is committed (PostgreSQL)
    return FollowOutcome("accepted")


async def receive_unfollow(group: Group, actor_url: str) -> bool:
    """Undo{Follow}: the member leaves (or withdraws a pending request)."""
    deleted = await Membership.filter(group=group, actor__url=actor_url).delete()
    return deleted > 0


def follow_of(membership: Membership, actor: RemoteActor, group_url: str) -> dict[str, Any]:
    if isinstance(membership.follow_activity, dict) and membership.follow_activity.get("id"):
        return membership.follow_activity
    return builders.synthetic_follow(f"{actor.url}#follows/{group_url}", actor.url, group_url)


async def find_member(group: Group, who: str) -> Membership:
    """A membership by actor URL or by handle (`@name@host`, `name@host`)."""
    actor = await find_actor(who)
    membership = await Membership.get_or_none(group=group, actor=actor).prefetch_related("actor")
    if membership is None:
        raise NotFound(f"{who} is not a member of {group.name} and has no pending request")
    return membership


async def find_actor(who: str) -> RemoteActor:
    """A known remote actor by URL or handle; unknown actors are an error, not a fetch."""
    who = who.strip()
    if who.startswith(("http://", "https://")):
        actor = await RemoteActor.get_or_none(url=who)
    else:
        handle = who.removeprefix("acct:").lstrip("@")
        if handle.count("@") != 1:
            raise InvalidValue(f"not a handle or actor URL: {who!r} (expected @name@host)")
        name, host = handle.split("@")
        actor = await RemoteActor.get_or_none(
            preferred_username=name, host=authority_or_none(host) or host.lower()
        )
    if actor is None:
        raise NotFound(f"no known actor {who}")
    return actor


async def approve(
    settings: Settings, group: Group, who: str, *, by: str = modlog.ADMIN
) -> Membership:
    """Accept a pending request and tell the member's server."""
    membership = await find_member(group, who)
    actor = membership.actor
    if membership.state == MembershipState.ACCEPTED:
        raise InvalidValue(f"{who} is already a member of {group.name}")
    membership.state = MembershipState.ACCEPTED
    await membership.save(update_fields=["state", "updated_at"])
    group_url = _group_url(settings, group)
    accept = builders.accept_follow(
        new_activity_id(settings), group_url, follow_of(membership, actor, group_url)
    )
    await _send(group, accept, actor.inbox)
    await modlog.record(
        modlog.ModAction.APPROVE_MEMBER, group=group, moderator=by, target=actor.url
    )
    return membership


async def reject(
    settings: Settings,
    group: Group,
    who: str,
    *,
    by: str = modlog.ADMIN,
    action: modlog.ModAction = modlog.ModAction.REJECT_MEMBER,
) -> None:
    """Refuse a pending request (or remove a member) and tell the member's server."""
    membership = await find_member(group, who)
    actor = membership.actor
    group_url = _group_url(settings, group)
    follow = follow_of(membership, actor, group_url)
    await membership.delete()
    reject_activity = builders.reject_follow(new_activity_id(settings), group_url, follow)
    await _send(group, reject_activity, actor.inbox)
    await modlog.record(action, group=group, moderator=by, target=actor.url)


async def remove(settings: Settings, group: Group, who: str, *, by: str = modlog.ADMIN) -> None:
    """Remove an accepted member: their server gets Reject{Follow} and stops following."""
    membership = await find_member(group, who)
    if membership.state != MembershipState.ACCEPTED:
        raise InvalidValue(f"{who} is not an accepted member of {group.name} (use reject)")
    await reject(settings, group, who, by=by, action=modlog.ModAction.REMOVE_MEMBER)


async def members(group: Group, *, pending: bool = False) -> list[Membership]:
    state = MembershipState.PENDING if pending else MembershipState.ACCEPTED
    return (
        await Membership.filter(group=group, state=state).order_by("id").prefetch_related("actor")
    )


async def member_inboxes(group: Group, *, exclude_hosts: frozenset[str] = frozenset()) -> list[str]:
    """One inbox per member server: its shared inbox when it has one, deduplicated."""
    rows = (
        await Membership.filter(group=group, state=MembershipState.ACCEPTED)
        .order_by("id")
        .values_list("actor__host", "actor__shared_inbox", "actor__inbox")
    )
    inboxes: dict[str, None] = {}
    for host, shared_inbox, inbox in rows:
        if host not in exclude_hosts:
            inboxes[shared_inbox or inbox] = None
    return list(inboxes)


async def forget_deleted_actor(actor_url: str) -> int:
    """An account was deleted: its memberships go (its content is removed by the caller)."""
    return await Membership.filter(actor__url=actor_url).delete()


async def get_group_by_url(settings: Settings, url: str) -> Group | None:
    """The local group an actor URL names, if it is one of ours."""
    prefix = settings.url("/groups/")
    if not isinstance(url, str) or not url.startswith(prefix):
        return None
    name = url[len(prefix) :]
    if "/" in name or "#" in name or "?" in name:
        return None
    return await Group.get_or_none(name=name)
