"""Reports: `Flag`s about a group's posts or members, kept for its moderators.

Three shapes reach a group in practice, all read here the same way:

- Mastodon: `object` is an array of the reported account and some of its statuses, `content`
  the reason, the actor often the instance actor (the reporter stays anonymous), `to` the
  reported account. Mastodon sends a report to another server only when the reporter ticks
  "forward", so a Flag addressed to the reported author asks for their server to be told.
- Lemmy: `object` is the one reported post or comment, `summary` the reason, `to` the
  community.
- Mbin: `object` an array of the post and its author, both `summary` and `content`, `to` and
  `audience` the community.

A report from a domain whose reports are rejected (`policy set … --reject-reports`) is
dropped. A report is stored once per Flag id (with who, what and why), logged, and when its reporter
asked, passed on to the reported author's server as the group's own `Flag` (the reporter is
not named, as Mastodon does). Resolving one sends `Resolve` of the Flag, as Lemmy does, to
the reporter's server when that is Lemmy, the software that understands it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from ..activitypub import builders
from ..activitypub.actor_docs import actor_of
from ..activitypub.actors import group_urls
from ..activitypub.hosts import authority_or_none
from ..activitypub.signed_fetch import Fetcher
from ..activitypub.vocab import as_list, ids_of
from ..config import Settings
from ..storage.models import (
    Group,
    RemoteActor,
    Report,
    ReportState,
    StoredObject,
)
from . import modlog
from .errors import InvalidValue, NotFound
from .membership import get_group_by_url
from .modactions import acting_actor
from .nodeinfo import learn_software
from .outbound import queue_activity
from .outcomes import Refused
from .policies import treatment_of

MAX_REASON = 5000
MAX_OBJECTS = 50
#: Software that reads `Resolve{Flag}` (Lemmy sends and reads it; others ignore it).
RESOLVE_READERS = frozenset({"lemmy"})


def _reason(flag: dict[str, Any]) -> str:
    for key in ("content", "summary"):
        value = flag.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_REASON]
    return ""


async def _group_named(settings: Settings, flag: dict[str, Any]) -> Group | None:
    for field in ("to", "audience", "cc"):
        for url in ids_of(as_list(flag.get(field))):
            group = await get_group_by_url(settings, url)
            if group is not None:
                return group
    return None


async def receive_flag(settings: Settings, flag: dict[str, Any]) -> Report:
    """Store a report about a group's post(s) or member; Refused if it is about nothing in
    a group here. Idempotent per Flag id."""
    existing = await Report.get_or_none(flag_id=flag["id"])
    if existing is not None:
        return existing
    objects = ids_of(as_list(flag.get("object")))[:MAX_OBJECTS]
    if not objects:
        raise Refused("Flag names nothing")
    posts = await StoredObject.filter(ap_id__in=objects, group_id__not_isnull=True)
    group = await _group_named(settings, flag)
    if group is None and posts:
        group = await Group.get(id=posts[0].group_id)
    if group is None:
        raise Refused("Flag about nothing in a group here")
    reporter = actor_of(flag) or ""
    treatment = await treatment_of(settings, reporter, group)
    if treatment.reject_reports or treatment.suspended:
        raise Refused(f"reports from {reporter}'s domain are rejected ({treatment.why})")
    posts = [p for p in posts if p.group_id == group.id]
    known = {p.ap_id for p in posts}
    people = [o for o in objects if o not in known]
    author = posts[0].attributed_to if posts else next(iter(people), "")
    if not posts and not await _is_member_or_known(author):
        raise Refused(f"Flag about {author or 'nobody'}, who is not known here")
    addressed = set(ids_of(as_list(flag.get("to"))))
    report = await Report.create(
        group=group,
        flag_id=flag["id"],
        reporter=reporter,
        author=author,
        objects=objects,
        reason=_reason(flag),
        flag=flag,
        forward=bool(author) and author in addressed,
    )
    await modlog.record(
        modlog.ModAction.REPORT,
        group=group,
        moderator=reporter,
        target=", ".join(sorted(known)) or author,
        reason=report.reason,
    )
    if report.forward:
        # In the reporter's order: the database returns the posts in its index's order.
        reported = list(dict.fromkeys(o for o in objects if o in known))
        await forward_report(settings, group, report, reported)
    return report


async def _is_member_or_known(actor_url: str) -> bool:
    return bool(actor_url) and await RemoteActor.exists(url=actor_url)


async def forward_report(
    settings: Settings, group: Group, report: Report, post_ids: list[str]
) -> None:
    """The group's own Flag of the author and posts, to the author's server (unless the
    reporter is on it: it knows already)."""
    author = await RemoteActor.get_or_none(url=report.author)
    if author is None:
        return
    if authority_or_none(report.reporter) == author.host:
        return
    urls = group_urls(settings.base_url, group.name)
    flag = builders.flag(
        settings.url(f"/activities/{uuid.uuid4()}"),
        urls.actor,
        [author.url, *post_ids],
        report.reason,
        to=[author.url],
    )
    await queue_activity(flag, group=group, inboxes=[author.shared_inbox or author.inbox])
    report.forwarded_at = datetime.now(UTC)
    await report.save(update_fields=["forwarded_at"])


async def list_reports(group: Group | None, *, include_resolved: bool = False) -> list[Report]:
    """Open reports (or all), oldest first, in one group or in all of them."""
    query = Report.all() if include_resolved else Report.filter(state=ReportState.OPEN)
    if group is not None:
        query = query.filter(group=group)
    return await query.order_by("id").prefetch_related("group")


async def resolve_report(
    settings: Settings,
    fetcher: Fetcher,
    group: Group,
    number: str,
    *,
    by: str = modlog.ADMIN,
    reason: str = "",
) -> Report:
    """Close a report; a Lemmy reporter's server is sent `Resolve` of its Flag (its software
    learnt from its NodeInfo through `fetcher`, if not known yet)."""
    if not number.strip().isdigit():
        raise InvalidValue(f"not a report number: {number!r}")
    report = await Report.get_or_none(group=group, id=int(number))
    if report is None:
        raise NotFound(f"no report {number} in {group.name}")
    if report.state == ReportState.RESOLVED:
        raise InvalidValue(f"report {number} was already resolved by {report.resolved_by}")
    report.state, report.resolved_by = ReportState.RESOLVED, by
    report.resolved_at = datetime.now(UTC)
    await report.save(update_fields=["state", "resolved_by", "resolved_at"])
    await _tell_reporter(settings, fetcher, group, report, by)
    await modlog.record(
        modlog.ModAction.RESOLVE_REPORT,
        group=group,
        moderator=by,
        target=", ".join(report.objects),
        reason=reason,
    )
    return report


async def _tell_reporter(
    settings: Settings, fetcher: Fetcher, group: Group, report: Report, by: str
) -> None:
    reporter = await RemoteActor.get_or_none(url=report.reporter)
    if reporter is None:
        return
    instance = await learn_software(fetcher, reporter.url)
    if instance.software not in RESOLVE_READERS:
        return
    resolve = builders.resolve(
        settings.url(f"/activities/{uuid.uuid4()}"),
        acting_actor(settings, by),
        group_urls(settings.base_url, group.name).actor,
        {k: v for k, v in report.flag.items() if k not in {"@context", "signature", "proof"}},
    )
    await queue_activity(resolve, group=group, inboxes=[reporter.shared_inbox or reporter.inbox])
