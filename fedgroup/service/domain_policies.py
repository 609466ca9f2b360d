"""Setting and clearing domain policies (and allow entries), with what each one does at once.

A suspension takes effect when it is set, not only on the domain's next request: its
members leave the group(s) (no one is told but each group's moderation log: telling the
suspended server would be delivering to it), and whatever was still queued for it is
dropped. Every change is a moderation-log entry (group NULL for server-wide ones); the
entry carries the public comment, never the private note.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.expressions import Q

from ..policy import Severity
from ..storage.models import (
    Delivery,
    DeliveryState,
    DomainAllow,
    DomainPolicy,
    Group,
    Membership,
)
from . import modlog
from .cache_epochs import DOMAIN_RULES, bump
from .errors import InvalidValue, NotFound
from .policies import domain_covers, rule_domain

PENDING = (DeliveryState.QUEUED, DeliveryState.RETRYING)


@dataclass(frozen=True)
class PolicyChange:
    """What `set_policy` asks for; `domain` in any spelling an admin pastes."""

    domain: str
    severity: str
    reject_media: bool = False
    reject_reports: bool = False
    public_comment: str = ""
    private_note: str = ""


def severity_named(text: str) -> Severity:
    """A severity by its Mastodon name; `limit` is accepted as `silence` (Mastodon's UI
    calls it that)."""
    name = text.strip().lower()
    if name == "limit":
        return Severity.SILENCE
    try:
        return Severity(name)
    except ValueError:
        raise InvalidValue(
            f"unknown severity {text!r}; expected noop, silence or suspend"
        ) from None


def describe(row: DomainPolicy) -> str:
    """The rule in words, for the log and the CLI: `suspend`, `noop, reject media`…"""
    parts = [str(row.severity)]
    parts += ["reject media"] if row.reject_media else []
    parts += ["reject reports"] if row.reject_reports else []
    return ", ".join(parts)


async def set_policy(
    change: PolicyChange, *, group: Group | None = None, by: str = modlog.ADMIN
) -> DomainPolicy:
    """Create or replace the rule for a domain (server-wide, or in `group`), log it, and
    carry out a suspension at once."""
    domain = rule_domain(change.domain)
    values = {
        "severity": severity_named(change.severity),
        "reject_media": change.reject_media,
        "reject_reports": change.reject_reports,
        "public_comment": change.public_comment.strip(),
        "private_note": change.private_note.strip(),
    }
    row = await DomainPolicy.get_or_none(domain=domain, group=group)
    if row is None:
        row = await DomainPolicy.create(domain=domain, group=group, **values)
    else:
        await row.update_from_dict(values).save()
    await bump(DOMAIN_RULES)  # running servers obey it within a second
    reason = "; ".join(p for p in (describe(row), row.public_comment) if p)
    await modlog.record(
        modlog.ModAction.SET_POLICY, group=group, moderator=by, target=domain, reason=reason
    )
    if row.severity == Severity.SUSPEND:
        await carry_out_suspension(domain, group)
    return row


async def clear_policy(domain: str, *, group: Group | None = None, by: str = modlog.ADMIN) -> None:
    """Remove the rule for a domain (server-wide, or in `group`); logged."""
    canonical = rule_domain(domain)
    if not await DomainPolicy.filter(domain=canonical, group=group).delete():
        where = f" in {group.name}" if group is not None else " on this server"
        raise NotFound(f"no policy for {canonical}{where}")
    await bump(DOMAIN_RULES)
    await modlog.record(modlog.ModAction.CLEAR_POLICY, group=group, moderator=by, target=canonical)


async def list_policies(group: Group | None = None) -> list[DomainPolicy]:
    """Every rule (server-wide first, then by group), or only those of `group`."""
    query = DomainPolicy.all() if group is None else DomainPolicy.filter(group=group)
    rows = await query.prefetch_related("group")
    return sorted(rows, key=lambda r: (r.group.name if r.group else "", r.domain))


async def allow_domain(domain: str, comment: str = "", *, by: str = modlog.ADMIN) -> DomainAllow:
    """Add a domain to the allow list (what allow-list mode federates with)."""
    canonical = rule_domain(domain)
    if await DomainAllow.exists(domain=canonical):
        raise InvalidValue(f"{canonical} is already on the allow list")
    row = await DomainAllow.create(domain=canonical, comment=comment.strip())
    await bump(DOMAIN_RULES)
    await modlog.record(
        modlog.ModAction.SET_POLICY, group=None, moderator=by, target=canonical, reason="allow"
    )
    return row


async def disallow_domain(domain: str, *, by: str = modlog.ADMIN) -> None:
    """Take a domain off the allow list."""
    canonical = rule_domain(domain)
    if not await DomainAllow.filter(domain=canonical).delete():
        raise NotFound(f"{canonical} is not on the allow list")
    await bump(DOMAIN_RULES)
    await modlog.record(
        modlog.ModAction.CLEAR_POLICY, group=None, moderator=by, target=canonical, reason="allow"
    )


async def list_allowed() -> list[DomainAllow]:
    return await DomainAllow.all().order_by("domain")


def _on_hosts_under(domain: str, field: str) -> Q:
    """Rows whose `field` (a canonical host, with a port or not) may be `domain` or under
    it; `domain_covers` then decides exactly."""
    return (
        Q(**{field: domain})
        | Q(**{f"{field}__startswith": domain + ":"})
        | Q(**{f"{field}__endswith": "." + domain})
        | Q(**{f"{field}__contains": "." + domain + ":"})
    )


async def carry_out_suspension(domain: str, group: Group | None) -> int:
    """Remove the domain's members (of `group`, or of every group) without telling their
    servers, each removal in its group's log, and drop what is still queued for the domain
    (of `group`'s activities only, for a group's rule). Returns how many members left."""
    memberships = Membership.filter(_on_hosts_under(domain, "actor__host"))
    if group is not None:
        memberships = memberships.filter(group=group)
    removed = 0
    for membership in await memberships.prefetch_related("actor", "group"):
        if not domain_covers(domain, membership.actor.url):
            continue
        await membership.delete()
        removed += 1
        await modlog.record(
            modlog.ModAction.REMOVE_MEMBER,
            group=membership.group,
            moderator=modlog.AUTOMATIC,
            target=membership.actor.url,
            reason=f"{domain} is suspended",
        )
    queued = Delivery.filter(_on_hosts_under(domain, "host"), state__in=PENDING)
    if group is not None:
        queued = queued.filter(activity__group_id=group.id)
    rows = await queued.values_list("id", "host")
    ids = [row_id for row_id, host in rows if domain_covers(domain, str(host))]
    if ids:
        await Delivery.filter(id__in=ids, state__in=PENDING).update(
            state=DeliveryState.DROPPED, last_error=f"{domain} is suspended", claimed_until=None
        )
    return removed
