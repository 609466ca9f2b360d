"""Bans: an actor or a whole domain kept out of one group or of the whole server.

A banned member is removed and told so in the two ways their software understands: Lemmy
and other FEP-1b12 software read `Block` (object the person, target the community), while
Mastodon drops its follow on `Reject{Follow}`. Their later posts are not announced
(the check is in conversations), and a server-wide domain ban is a suspension (see
service.domain_policies): refused at the inbox, members removed, nothing delivered.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from tortoise.queryset import QuerySet

from ..activitypub import builders
from ..activitypub.actors import group_urls
from ..activitypub.fetch import FetchError
from ..activitypub.signed_fetch import Fetcher
from ..activitypub.webfinger_client import resolve_handle
from ..config import Settings
from ..storage.models import Ban, Group, Membership, MembershipState, StoredObject
from . import modlog
from .cache_epochs import DOMAIN_RULES, bump
from .domain_policies import carry_out_suspension
from .errors import InvalidValue, NotFound
from .ids import new_activity_id
from .membership import find_actor, follow_of
from .moderation import remove_post
from .outbound import queue_activity
from .policies import domain_covers, rule_domain

# A ban for longer than this is a permanent ban: say so by not giving --days.
MAX_BAN_DAYS = 3650


async def _remove_and_tell(
    settings: Settings, membership: Membership, ban: Ban, purge: bool
) -> None:
    group = membership.group
    actor = membership.actor
    urls = group_urls(settings.base_url, group.name)
    was_member = membership.state == MembershipState.ACCEPTED
    follow = follow_of(membership, actor, urls.actor)
    await membership.delete()
    reject = builders.reject_follow(new_activity_id(settings), urls.actor, follow)
    await queue_activity(reject, group=group, inboxes=[actor.inbox])
    if was_member:
        block = builders.block(
            new_activity_id(settings),
            urls.actor,
            actor.url,
            ban.reason or None,
            end_time=_timestamp(ban.expires_at) if ban.expires_at else None,
            remove_data=purge,
        )
        await queue_activity(block, group=group, inboxes=[actor.inbox])


async def actor_url_of(who: str, fetcher: Fetcher | None = None) -> str:
    """The actor URL `who` names (for a ban, a moderator).

    An actor URL is taken as given, seen or not. A handle names a known actor, or is looked
    up by WebFinger through `fetcher` (the guarded GET path), so someone can be banned before
    they first reach the group; without a fetcher an unknown handle is refused.
    """
    text = who.strip()
    if text.startswith(("http://", "https://")):
        return text
    try:
        return (await find_actor(text)).url
    except NotFound:
        if fetcher is None:
            raise
    try:
        return await resolve_handle(
            fetcher.session, text, allow_private=fetcher.allow_private, max_bytes=fetcher.max_bytes
        )
    except FetchError as exc:
        raise InvalidValue(
            f"cannot find {text} by WebFinger ({getattr(exc, 'reason', None) or exc}); "
            "ban their actor URL, or their server with --domain"
        ) from None


async def ban_actor(
    settings: Settings,
    group: Group | None,
    who: str,
    reason: str = "",
    *,
    fetcher: Fetcher | None = None,
    by: str = modlog.ADMIN,
    days: int | None = None,
    purge: bool = False,
) -> Ban:
    """Ban an actor from one group (or every group, with group None) and remove them;
    for `days` days only, if given. `purge` also removes every post they made in the
    group(s), and members' servers are told of each removal."""
    expires = _expiry(days)
    actor_url = await actor_url_of(who, fetcher)
    await _drop_expired(Ban.filter(group=group, actor_url=actor_url))
    if await Ban.exists(group=group, actor_url=actor_url):
        raise InvalidValue(f"{who} is already banned{_where(group)}")
    ban = await Ban.create(group=group, actor_url=actor_url, reason=reason, expires_at=expires)
    memberships = Membership.filter(actor__url=actor_url)
    if group is not None:
        memberships = memberships.filter(group=group)
    for membership in await memberships.prefetch_related("group", "actor"):
        await _remove_and_tell(settings, membership, ban, purge)
    await modlog.record(
        modlog.ModAction.BAN,
        group=group,
        moderator=by,
        target=actor_url,
        reason=_with_terms(reason, days, purge),
    )
    if purge:
        await purge_posts(settings, group, actor_url, by=by, reason=reason)
    return ban


async def purge_posts(
    settings: Settings, group: Group | None, actor_url: str, *, by: str, reason: str
) -> int:
    """Remove every post `actor_url` made in the group (every group, for None) that is still
    up; each removal reaches members' servers as any removal does. Returns how many."""
    posts = StoredObject.filter(
        attributed_to=actor_url, deleted=False, removed=False, thread_id__not_isnull=True
    )
    if group is not None:
        posts = posts.filter(group=group)
    count = 0
    for post in await posts.order_by("id"):
        await remove_post(settings, await Group.get(id=post.group_id), post, by=by, reason=reason)
        count += 1
    return count


def _expiry(days: int | None) -> datetime | None:
    if days is None:
        return None
    if not 1 <= days <= MAX_BAN_DAYS:
        raise InvalidValue(f"--days must be between 1 and {MAX_BAN_DAYS}, not {days}")
    return datetime.now(UTC) + timedelta(days=days)


async def _drop_expired(bans: QuerySet[Ban]) -> None:
    await bans.filter(expires_at__lte=datetime.now(UTC)).delete()


def _with_terms(reason: str, days: int | None, purge: bool) -> str:
    terms = [f"for {days} days"] if days else []
    terms += ["posts removed"] if purge else []
    return "; ".join([reason, *terms] if reason else terms)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def ban_domain(
    group: Group | None,
    domain: str,
    reason: str = "",
    *,
    by: str = modlog.ADMIN,
    days: int | None = None,
) -> Ban:
    """Ban a domain and its subdomains; server-wide, their servers can no longer reach our
    inboxes at all."""
    domain = rule_domain(domain)
    expires = _expiry(days)
    await _drop_expired(Ban.filter(group=group, domain=domain))
    if await Ban.exists(group=group, domain=domain):
        raise InvalidValue(f"{domain} is already banned{_where(group)}")
    ban = await Ban.create(group=group, domain=domain, reason=reason, expires_at=expires)
    if group is None:
        await bump(DOMAIN_RULES)  # running servers refuse it within a second
        # A server-wide domain ban is a suspension by another name, carried out as one.
        await carry_out_suspension(domain, None)
    else:
        for membership in await Membership.filter(group=group).prefetch_related("actor"):
            if domain_covers(domain, membership.actor.url):
                await membership.delete()
    await modlog.record(
        modlog.ModAction.BAN,
        group=group,
        moderator=by,
        target=domain,
        reason=_with_terms(reason, days, False),
    )
    return ban


async def unban(group: Group | None, who: str, *, by: str = modlog.ADMIN) -> None:
    """Lift a ban on an actor (URL or handle) or a domain."""
    target = who.strip()
    query = Ban.filter(group=group)
    if target.startswith(("http://", "https://")):
        deleted = await query.filter(actor_url=target).delete()
        if not deleted and urlsplit(target).path in ("", "/"):  # a server's address
            deleted = await query.filter(domain=rule_domain(target)).delete()
    elif "@" in target:
        try:
            actor_url = (await find_actor(target)).url
        except NotFound:
            raise NotFound(
                f"no known actor {who}; name the ban by its actor URL as `bans list` shows it"
            ) from None
        deleted = await query.filter(actor_url=actor_url).delete()
    else:
        deleted = await query.filter(domain=rule_domain(target)).delete()
    if not deleted:
        raise NotFound(f"no ban on {who}{_where(group)}")
    if group is None:
        await bump(DOMAIN_RULES)
    await modlog.record(modlog.ModAction.UNBAN, group=group, moderator=by, target=target)


async def list_bans(group: Group | None) -> list[Ban]:
    """The bans in force (an expired one is gone: its actor may come back)."""
    await _drop_expired(Ban.filter(group=group))
    return await Ban.filter(group=group).order_by("id")


def _where(group: Group | None) -> str:
    return f" in {group.name}" if group is not None else " on this server"
