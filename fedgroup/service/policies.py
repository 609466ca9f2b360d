"""Loading the server's domain rules for the policy decisions in fedgroup.policy.

The policy decides on canonical hosts only; this is where hosts and rule domains, in
whatever spelling they come, are put in that form (`activitypub.hosts.canonical_host`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.expressions import Q

from ..activitypub.hosts import host_or_none
from ..policy import DomainRule, covers, is_blocked
from ..storage.models import Ban, DomainPolicy, PolicyAction


async def domain_rules() -> list[DomainRule]:
    """Domain policies plus server-wide domain bans (a ban is a block by another name)."""
    rules = [DomainRule(p.domain, str(p.action)) for p in await DomainPolicy.all()]
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=datetime.now(UTC))
    for ban in await Ban.filter(live, group_id=None, domain__isnull=False):
        rules.append(DomainRule(ban.domain or "", str(PolicyAction.BLOCK)))
    # Stored canonical (migration 0002); a row that names no host is no rule at all.
    canonical = [(host_or_none(r.domain), r.action) for r in rules]
    return [DomainRule(domain, action) for domain, action in canonical if domain]


async def host_is_blocked(*hosts: str) -> bool:
    """Whether any of the hosts (any spelling, or URLs) is blocked server-wide."""
    rules = await domain_rules()
    canonical = [host_or_none(h) for h in hosts if h]
    return any(is_blocked(h, rules) for h in canonical if h)


def domain_covers(rule_domain: str, host: str) -> bool:
    """Whether a domain rule or ban covers a host or URL, each in any spelling."""
    rule, target = host_or_none(rule_domain), host_or_none(host)
    return rule is not None and target is not None and covers(rule, target)
