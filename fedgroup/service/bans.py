"""Bans: an actor or a whole domain kept out of one group or of the whole server.

A banned member is removed and told so in the two ways their software understands: Lemmy
and other FEP-1b12 software read `Block` (object the person, target the community), while
Mastodon drops its follow on `Reject{Follow}`. Their later posts are not announced
(the check is in conversations), and a server-wide domain ban is a block at the inbox.
"""

from __future__ import annotations

from ..activitypub import builders
from ..activitypub.actors import group_urls
from ..activitypub.hosts import InvalidHost, canonical_host
from ..config import Settings
from ..storage.models import Ban, Group, Membership, MembershipState
from .errors import InvalidValue, NotFound
from .ids import new_activity_id
from .membership import find_actor, follow_of
from .outbound import queue_activity
from .policies import domain_covers


async def _remove_and_tell(settings: Settings, membership: Membership, reason: str) -> None:
    group = membership.group
    actor = membership.actor
    urls = group_urls(settings.base_url, group.name)
    was_member = membership.state == MembershipState.ACCEPTED
    follow = follow_of(membership, actor, urls.actor)
    await membership.delete()
    reject = builders.reject_follow(new_activity_id(settings), urls.actor, follow)
    await queue_activity(reject, group=group, inboxes=[actor.inbox])
    if was_member:
        block = builders.block(new_activity_id(settings), urls.actor, actor.url, reason or None)
        await queue_activity(block, group=group, inboxes=[actor.inbox])


async def ban_actor(settings: Settings, group: Group | None, who: str, reason: str = "") -> Ban:
    """Ban an actor from one group (or every group, with group None) and remove them."""
    actor = await find_actor(who)
    existing = await Ban.get_or_none(group=group, actor_url=actor.url)
    if existing is not None:
        raise InvalidValue(f"{who} is already banned{_where(group)}")
    ban = await Ban.create(group=group, actor_url=actor.url, reason=reason)
    memberships = Membership.filter(actor=actor)
    if group is not None:
        memberships = memberships.filter(group=group)
    for membership in await memberships.prefetch_related("group", "actor"):
        await _remove_and_tell(settings, membership, reason)
    return ban


async def ban_domain(group: Group | None, domain: str, reason: str = "") -> Ban:
    """Ban a domain; server-wide, its servers can no longer reach our inboxes at all."""
    domain = _domain(domain)
    if await Ban.exists(group=group, domain=domain):
        raise InvalidValue(f"{domain} is already banned{_where(group)}")
    ban = await Ban.create(group=group, domain=domain, reason=reason)
    memberships = Membership.all().prefetch_related("actor")
    if group is not None:
        memberships = memberships.filter(group=group)
    for membership in await memberships:
        if domain_covers(domain, membership.actor.url):
            await membership.delete()
    return ban


async def unban(group: Group | None, who: str) -> None:
    """Lift a ban on an actor (URL or handle) or a domain."""
    target = who.strip()
    query = Ban.filter(group=group)
    if "@" in target or target.startswith(("http://", "https://")):
        actor_url = target if target.startswith("http") else (await find_actor(target)).url
        deleted = await query.filter(actor_url=actor_url).delete()
    else:
        deleted = await query.filter(domain=_domain(target)).delete()
    if not deleted:
        raise NotFound(f"no ban on {who}{_where(group)}")


async def list_bans(group: Group | None) -> list[Ban]:
    return await Ban.filter(group=group).order_by("id")


def _domain(text: str) -> str:
    """The canonical spelling bans are stored in, whatever spelling the admin typed."""
    try:
        domain = canonical_host(text)
    except InvalidHost as exc:
        raise InvalidValue(str(exc)) from None
    if "." not in domain and not domain.startswith("["):
        raise InvalidValue(f"not a domain: {text!r} (a whole top-level domain cannot be banned)")
    return domain


def _where(group: Group | None) -> str:
    return f" in {group.name}" if group is not None else " on this server"
