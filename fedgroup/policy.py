"""Per-instance moderation policy: may this domain talk to us here, and how is it treated?

Pure decisions over plain values; the service layer loads the rules (service.policies). The
model is Mastodon's domain blocks, which admins already know and share lists of: a severity
(`noop`, `silence`, `suspend`) plus `reject_media` and `reject_reports`. A rule for
`bad.example` also covers every subdomain of it, and the most specific rule wins; within one
group, a rule made for that group wins over the server's rule for the same domain.

A server-wide suspension is the one thing a group cannot relax: the server refuses the
domain's requests before it knows which group they are for (and costs it no fetch). In
allow-list mode every domain without an allow entry is treated as suspended.

Every host and rule domain given here is in its canonical spelling (`activitypub.hosts`,
which the service layer applies before asking), so a rule cannot be passed by writing the
host another way: a port, a trailing dot, fullwidth letters, the Unicode form of a
punycode name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """Mastodon's severities, by the names its CSV exports use."""

    NOOP = "noop"  # nothing beyond the rule's flags
    SILENCE = "silence"  # "limit": joining needs approval, posts are held for a moderator
    SUSPEND = "suspend"  # nothing in, nothing out, members removed


@dataclass(frozen=True)
class DomainRule:
    """One rule as the decisions see it; `group_id` None is a server-wide rule."""

    domain: str
    severity: Severity = Severity.NOOP
    reject_media: bool = False
    reject_reports: bool = False
    group_id: int | None = None


@dataclass(frozen=True)
class Treatment:
    """What applies to one host (in one group): the answer every enforcement point reads."""

    severity: Severity = Severity.NOOP
    reject_media: bool = False
    reject_reports: bool = False
    why: str = ""

    @property
    def suspended(self) -> bool:
        return self.severity == Severity.SUSPEND

    @property
    def silenced(self) -> bool:
        return self.severity == Severity.SILENCE


OPEN = Treatment()
#: What a host that names no valid domain gets: no rule could name it, so it gets nothing.
NO_HOST = Treatment(Severity.SUSPEND, True, True, "names no valid host")


@dataclass(frozen=True)
class Policies:
    """Every rule of the server at one moment, plus whether it federates only with the
    domains in `allowed` (allow-list mode)."""

    rules: tuple[DomainRule, ...] = ()
    allowed: tuple[str, ...] = ()
    allowlist_mode: bool = False

    def treatment(self, host: str | None, group_id: int | None = None) -> Treatment:
        """How `host` (canonical) is treated here, in group `group_id` (None: server-wide)."""
        if not host:
            return NO_HOST
        server = rule_for(host, self.rules, group_id=None)
        if server is not None and server.severity == Severity.SUSPEND:
            return _treatment_of(server, "suspended on this server")
        if self.allowlist_mode and not any(covers(domain, host) for domain in self.allowed):
            return Treatment(Severity.SUSPEND, True, True, "not on this server's allow list")
        rule = rule_for(host, self.rules, group_id=group_id)
        if rule is None:
            return OPEN
        where = "on this server" if rule.group_id is None else "in this group"
        return _treatment_of(rule, f"{_DONE[rule.severity]} {where}")

    def suspended(self, *hosts: str | None, group_id: int | None = None) -> bool:
        """Whether any of the hosts is suspended here (a missing host counts as suspended)."""
        return any(self.treatment(host, group_id).suspended for host in hosts)


#: How a treatment's reason names each severity ("silenced on this server").
_DONE = {Severity.NOOP: "noted", Severity.SILENCE: "silenced", Severity.SUSPEND: "suspended"}


def _treatment_of(rule: DomainRule, why: str) -> Treatment:
    return Treatment(rule.severity, rule.reject_media, rule.reject_reports, why)


def covers(rule_domain: str, host: str) -> bool:
    """Whether a rule for `rule_domain` applies to `host`: itself or a subdomain, on label
    boundaries (`notbad.example` is not under `bad.example`). Both canonical."""
    return host == rule_domain or host.endswith("." + rule_domain)


def rule_for(
    host: str, rules: Iterable[DomainRule], *, group_id: int | None = None
) -> DomainRule | None:
    """The rule that decides for the (canonical) host in group `group_id`: the most specific
    domain among the server's rules and that group's; for one domain, the group's rule."""
    matching = [
        r
        for r in rules
        if (r.group_id is None or r.group_id == group_id) and covers(r.domain, host)
    ]
    return max(matching, key=lambda r: (len(r.domain), r.group_id is not None), default=None)
