"""Per-instance moderation policy: may this domain talk to us, and how?

Pure decisions over plain values; the service layer loads the rules. A rule for
`bad.example` also covers every subdomain of it, and the most specific rule wins.

Every host and rule domain given here is in its canonical spelling (`activitypub.hosts`,
which the service layer applies before asking), so a rule cannot be passed by writing the
host another way: a port, a trailing dot, fullwidth letters, the Unicode form of a
punycode name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class DomainRule:
    domain: str
    action: str  # "block" | "limit" | "allow" | "reject_media"


def covers(rule_domain: str, host: str) -> bool:
    """Whether a rule for `rule_domain` applies to `host`: itself or a subdomain, on label
    boundaries (`notbad.example` is not under `bad.example`). Both canonical."""
    return host == rule_domain or host.endswith("." + rule_domain)


def rule_for(host: str, rules: Iterable[DomainRule]) -> DomainRule | None:
    """The most specific rule covering the (canonical) host, if any."""
    matching = [r for r in rules if covers(r.domain, host)]
    return max(matching, key=lambda r: len(r.domain), default=None)


def is_blocked(host: str, rules: Iterable[DomainRule]) -> bool:
    """Blocked domains get nothing from us and we take nothing from them."""
    rule = rule_for(host, rules)
    return rule is not None and rule.action == "block"
