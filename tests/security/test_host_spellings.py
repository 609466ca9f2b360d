"""Class 2: domain rules passed by writing a host another way.

Every place hosts are compared or stored goes through one canonical spelling: server-wide
blocks and domain bans at the inbox, group bans, origin checks, instance rows and delivery
grouping. Each is tried with a port, a trailing dot, fullwidth letters, the ideographic
full stop, upper case, and the Unicode form of a name banned as punycode (and back).
"""

from __future__ import annotations

import uuid

import pytest

from fedgroup.activitypub.hosts import same_origin
from fedgroup.policy import Severity
from fedgroup.service.bans import ban_domain, unban
from fedgroup.service.membership import is_banned
from fedgroup.service.outbound import queue_activity
from fedgroup.storage.models import Activity, Ban, Delivery, DomainPolicy, Group
from tests.fakes.sender import post_signed

from .support import follow

SPELLINGS_OF_BAD = [
    "https://bad.example:8443/users/x",
    "https://bad.example./users/x",
    "https://BAD.Example/users/x",
    "https://ｂａｄ.example/users/x",
    "https://bad。example/users/x",
    "https://bad｡example.:443/users/x",
    "https://sub.bad.example/users/x",
]
UNICODE_AND_PUNYCODE = [
    ("xn--bcher-kva.example", "https://bücher.example/users/x"),
    ("bücher.example", "https://xn--bcher-kva.example/users/x"),
    ("xn--bcher-kva.example", "https://BÜCHER.example./users/x"),
]


async def _signed_as(server, remote, actor_url: str):
    """A request whose actor (and keyId, when the spelling fits in a header) is on
    `actor_url`'s host; it never gets as far as fetching the key: a block is decided first."""
    key_id = actor_url + "#main-key" if actor_url.isascii() else remote.key_id("alice")
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": actor_url.rsplit("/users/", 1)[0] + f"/activities/{uuid.uuid4()}",
        "type": "Follow",
        "actor": actor_url,
        "object": server.group_url("jazz"),
    }
    return await post_signed(remote, server.url("/inbox"), activity, key_id=key_id)


@pytest.mark.parametrize("rule", ["policy", "server-ban"])
@pytest.mark.parametrize("actor_url", SPELLINGS_OF_BAD)
async def test_a_server_wide_block_holds_for_every_spelling(server, remote, rule, actor_url):
    if rule == "policy":
        await DomainPolicy.create(domain="bad.example", severity=Severity.SUSPEND)
    else:
        await ban_domain(None, "bad.example")
    answer = await _signed_as(server, remote, actor_url)
    assert answer.status == 403, answer.body
    assert await Activity.all().count() == 0
    assert [r for r in remote.requests if r.method == "GET"] == []


@pytest.mark.parametrize(("banned", "actor_url"), UNICODE_AND_PUNYCODE)
async def test_unicode_and_punycode_are_one_domain_at_the_inbox(server, remote, banned, actor_url):
    await ban_domain(None, banned)
    answer = await _signed_as(server, remote, actor_url)
    assert answer.status == 403, answer.body
    assert await Activity.all().count() == 0


@pytest.mark.parametrize(
    "typed", ["BAD.example.", "ｂａｄ.example", "bad。example", "https://bad.example:8443/"]
)
async def test_bans_are_stored_canonical_whatever_was_typed(server, typed):
    group = await Group.get(name="jazz")
    ban = await ban_domain(group, typed)
    assert ban.domain == "bad.example"
    for actor_url in SPELLINGS_OF_BAD:
        assert await is_banned(group, actor_url), actor_url
    assert not await is_banned(group, "https://notbad.example/users/x")
    await unban(group, "Bad.Example.")
    assert await Ban.all().count() == 0


async def test_a_group_domain_ban_refuses_a_follow_from_another_spelling(server, remote):
    """The fake instance's host is an IP: banned with a trailing dot and no port, its actors
    (whose URLs carry a port) are still refused by the group."""
    group = await Group.get(name="jazz")
    await ban_domain(group, remote.address + ".")
    activity = follow(remote, server.group_url("jazz"))
    answer = await post_signed(remote, server.url("/inbox"), activity)
    assert answer.status == 202, answer.body
    reject = await remote.wait_for(lambda p: p.json and p.json["type"] == "Reject")
    assert reject.json["object"]["actor"] == remote.actor_url("alice")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://bücher.example/a", "https://xn--bcher-kva.example/b"),
        ("https://x.example:443/a", "https://X.example./b"),
        ("https://ｘ.example/a", "https://x.example/b"),
    ],
)
def test_origin_checks_see_one_origin(a, b):
    assert same_origin(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://x.example/a", "http://x.example/b"),
        ("https://x.example/a", "https://x.example:8443/b"),
        ("https://x.example@evil.example/a", "https://x.example/b"),
        ("https://evil.example\\@x.example/a", "https://x.example/b"),
    ],
)
def test_origin_checks_do_not_confuse_origins(a, b):
    assert not same_origin(a, b)


async def test_deliveries_to_one_server_are_grouped_under_one_host(server):
    group = await Group.get(name="jazz")
    inboxes = [
        "https://bücher.example/inbox",
        "https://xn--bcher-kva.example:443/users/a/inbox",
        "https://BÜCHER.example./users/b/inbox",
    ]
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": server.url(f"/activities/{uuid.uuid4()}"),
        "type": "Accept",
        "actor": server.group_url("jazz"),
        "object": "https://bücher.example/follows/1",
    }
    await queue_activity(activity, group=group, inboxes=inboxes)
    hosts = set(await Delivery.all().values_list("host", flat=True))
    assert hosts == {"xn--bcher-kva.example"}
