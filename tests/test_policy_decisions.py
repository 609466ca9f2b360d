"""The pure decisions of fedgroup.policy: which rule decides for a host, in a group or on the
whole server, and what allow-list mode does; no database, no network."""

from __future__ import annotations

from fedgroup.policy import DomainRule, Policies, Severity, rule_for

JAZZ, BLUES = 1, 2
RULES = (
    DomainRule("bad.example", Severity.SUSPEND),
    DomainRule("ok.bad.example", Severity.NOOP),
    DomainRule("loud.example", Severity.SILENCE, reject_media=True),
    DomainRule("loud.example", Severity.NOOP, group_id=BLUES),
    DomainRule("bad.example", Severity.NOOP, group_id=BLUES),
    DomainRule("quiet.example", Severity.SUSPEND, group_id=JAZZ),
    DomainRule("flags.example", Severity.NOOP, reject_reports=True),
)


def test_the_most_specific_domain_decides_on_label_boundaries():
    policies = Policies(RULES)
    assert policies.treatment("sub.bad.example").suspended
    assert policies.treatment("ok.bad.example").severity == Severity.NOOP
    assert policies.treatment("deep.ok.bad.example").severity == Severity.NOOP
    assert policies.treatment("notbad.example") == Policies().treatment("notbad.example")
    assert rule_for("x.loud.example", RULES) == RULES[2]


def test_a_group_rule_wins_in_its_group_only():
    policies = Policies(RULES)
    assert policies.treatment("loud.example").silenced
    assert policies.treatment("loud.example").reject_media
    blues = policies.treatment("loud.example", BLUES)
    assert (blues.severity, blues.reject_media, blues.why) == (
        Severity.NOOP,
        False,
        "noted in this group",
    )
    assert policies.treatment("loud.example", JAZZ).silenced
    assert policies.treatment("quiet.example", JAZZ).suspended
    assert not policies.treatment("quiet.example", BLUES).suspended
    assert not policies.treatment("quiet.example").suspended


def test_a_server_suspension_cannot_be_relaxed_by_a_group():
    treatment = Policies(RULES).treatment("bad.example", BLUES)
    assert treatment.suspended and treatment.why == "suspended on this server"


def test_allowlist_mode_suspends_every_domain_not_allowed():
    policies = Policies(RULES, allowed=("friends.example",), allowlist_mode=True)
    assert not policies.treatment("friends.example").suspended
    assert not policies.treatment("social.friends.example").suspended
    stranger = policies.treatment("stranger.example")
    assert stranger.suspended and stranger.why == "not on this server's allow list"
    assert not Policies(RULES, allowed=()).treatment("stranger.example").suspended
    assert policies.suspended(None), "a host no rule could name gets nothing"
    assert policies.suspended("friends.example", "stranger.example")


def test_flags_come_with_the_rule():
    flags = Policies(RULES).treatment("a.flags.example")
    assert (flags.severity, flags.reject_reports, flags.reject_media) == (
        Severity.NOOP,
        True,
        False,
    )
