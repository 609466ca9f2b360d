"""Loading the server's domain rules for the policy decisions in fedgroup.policy."""

from __future__ import annotations

from ..policy import DomainRule, is_blocked
from ..storage.models import Ban, DomainPolicy, PolicyAction


async def domain_rules() -> list[DomainRule]:
    """Domain policies plus server-wide domain bans (a ban is a block by another name)."""
    rules = [DomainRule(p.domain, str(p.action)) for p in await DomainPolicy.all()]
    for ban in await Ban.filter(group_id=None, domain__isnull=False):
        rules.append(DomainRule(ban.domain or "", str(PolicyAction.BLOCK)))
    return rules


async def host_is_blocked(*hosts: str) -> bool:
    """Whether any of the hosts is blocked server-wide."""
    rules = await domain_rules()
    return any(is_blocked(h, rules) for h in hosts if h)
