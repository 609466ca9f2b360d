"""Loading the server's domain rules for the policy decisions in fedgroup.policy.

`load_policies` is the one place rules are read from the database (domain policies, allow
entries, and server-wide domain bans, which are suspensions by another name): whatever
caches them caches that one function. Everything else asks `treatment_of` or
`host_is_suspended` with hosts in any spelling; this is where hosts and rule domains are put
in the canonical form the policy decides on (`activitypub.hosts.canonical_host`).
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.signals import post_delete, post_save

from .. import caching
from ..activitypub.hosts import InvalidHost, canonical_host, host_or_none
from ..caching import BoundedCache
from ..config import Settings
from ..policy import DomainRule, Policies, Severity, Treatment, covers
from ..storage.models import Ban, DomainAllow, DomainPolicy, Group
from .cache_epochs import DOMAIN_RULES
from .errors import InvalidValue

#: The server's rules, read once for every request instead of on each (by allow-list mode,
#: a setting). Cleared by `cache_epochs.bump(DOMAIN_RULES)` (here at once and, within a
#: second, in every server process), when a row of them is saved or deleted in this
#: process, and at the next ban's expiry.
_POLICIES: BoundedCache[bool, Policies] = BoundedCache(DOMAIN_RULES, max_entries=2, ttl=300.0)


async def load_policies(settings: Settings) -> Policies:
    """Every domain rule of the server, as plain values (see the module's docstring)."""
    cached = _POLICIES.get(settings.allowlist_mode)
    if cached is not None:
        return cached
    now = datetime.now(UTC)
    rules = [
        (p.domain, Severity(p.severity), p.reject_media, p.reject_reports, p.group_id)
        for p in await DomainPolicy.all()
    ]
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    expiries = []
    for ban in await Ban.filter(live, group_id=None, domain__isnull=False):
        rules.append((ban.domain or "", Severity.SUSPEND, False, False, None))
        if ban.expires_at is not None:
            expiries.append((ban.expires_at - now).total_seconds())
    allowed = await DomainAllow.all().values_list("domain", flat=True)
    # Stored canonical (migrations 0003, 0010); a row that names no host is no rule at all.
    policies = Policies(
        rules=tuple(
            DomainRule(host, *rest) for domain, *rest in rules if (host := host_or_none(domain))
        ),
        allowed=tuple(host for domain in allowed if (host := host_or_none(str(domain)))),
        allowlist_mode=settings.allowlist_mode,
    )
    _POLICIES.put(settings.allowlist_mode, policies, valid_for=min(expiries, default=None))
    return policies


@post_save(DomainPolicy, DomainAllow, Ban)
@post_delete(DomainPolicy, DomainAllow, Ban)
async def _rule_row_changed(*_args: Any, **_kwargs: Any) -> None:
    caching.clear(DOMAIN_RULES)


async def treatment_of(settings: Settings, host: str, group: Group | None = None) -> Treatment:
    """How a host or URL (any spelling) is treated here, in `group` if given."""
    policies = await load_policies(settings)
    return policies.treatment(host_or_none(host), group.id if group is not None else None)


async def host_is_suspended(
    settings: Settings, *hosts: str, group_id: int | None = None
) -> bool:
    """Whether any of the hosts (any spelling, or URLs) is suspended here: server-wide, by
    allow-list mode, or (with `group_id`) in that group."""
    policies = await load_policies(settings)
    return policies.suspended(*(host_or_none(h) for h in hosts if h), group_id=group_id)


def domain_covers(rule_domain: str, host: str) -> bool:
    """Whether a domain rule or ban covers a host or URL, each in any spelling."""
    rule, target = host_or_none(rule_domain), host_or_none(host)
    return rule is not None and target is not None and covers(rule, target)


def rule_domain(text: str) -> str:
    """The canonical host a domain rule or ban is written against.

    Admins paste what they have: `bad.example`, `https://bad.example/`, `BAD.example.`, or
    `*.bad.example`. A rule always covers the domain and all its subdomains, so a leading
    `*.` says nothing more and is dropped; any other wildcard is refused.
    """
    raw = text.strip()
    if raw.startswith("*."):
        raw = raw[2:]
    if "*" in raw:
        raise InvalidValue(
            f"not a domain: {text!r} (only a leading '*.' is understood; a rule for a domain "
            "covers its subdomains anyway)"
        )
    try:
        host = canonical_host(raw)
    except InvalidHost as exc:
        raise InvalidValue(f"not a domain: {exc}") from None
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if "." not in host:
            raise InvalidValue(
                f"not a domain: {text!r} (a whole top-level domain cannot be named)"
            ) from None
    return host
