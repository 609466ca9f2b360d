"""Per-instance policies, end to end: what a suspended, silenced, media- or report-rejected
server meets at our inbox, what the group's other members receive, and how group rules and
allow-list mode change that.

One server for the module, with fake instances on their own loopback addresses. The
suspended one goes by a name, `sub.bad.example`, answered by a test resolver the server's
HTTP client is given, while the rule names the parent `bad.example`: the fake counts every
request it receives, so "no outbound request at all" is checked where it would show.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

import fedgroup.app
from fedgroup.activitypub.netguard import make_client_session
from fedgroup.app_keys import RUNTIME
from fedgroup.service import domain_policies, held
from fedgroup.service.domain_policies import PolicyChange
from fedgroup.service.membership import approve
from fedgroup.service.outbound import queue_activity
from fedgroup.storage.models import (
    Delivery,
    DeliveryState,
    Group,
    HeldPost,
    Membership,
    MembershipState,
    ModlogEntry,
    Report,
    StoredObject,
)
from tests.fakes import FakeInstance, StaticResolver, status_sequence
from tests.fakes.members import join, post_to_group, send_post, start_remote, wait_handled
from tests.fakes.sender import post_signed, send_follow, wait_accepted
from tests.fakes.server import FedgroupServer
from tests.fakes.software import lemmy_inner
from tests.security.support import follow, note_create

pytestmark = pytest.mark.asyncio(loop_scope="module")
WAIT = 10.0


@dataclass
class World:
    server: FedgroupServer
    bob: FakeInstance  # a Lemmy member of jazz: sees what the group announces
    bad: FakeInstance  # sub.bad.example, suspended as bad.example
    dns: StaticResolver

    @property
    def jazz(self) -> str:
        return self.server.group_url("jazz")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    bad = FakeInstance(hostname="sub.bad.example", software="mastodon")
    await bad.start()
    bad.add_actor("mallory")
    dns = StaticResolver({"sub.bad.example": bad.address})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            fedgroup.app,
            "make_client_session",
            functools.partial(make_client_session, resolver=dns),
        )
        async with FedgroupServer(tmp_path_factory.mktemp("policies")) as server:
            await server.create_group("jazz")
            await server.create_group("blues")
            bob = await start_remote("lemmy", "bob")
            try:
                await join(server, bob, "bob", "jazz")
                yield World(server, bob, bad, dns)
            finally:
                await bob.close()
                await bad.close()


async def set_rule(domain: str, severity: str, group: str | None = None, **flags: Any) -> None:
    where = await Group.get(name=group) if group else None
    await domain_policies.set_policy(PolicyChange(domain, severity, **flags), group=where)


async def wait_membership(group: str, actor: str, state: MembershipState) -> None:
    for _ in range(500):
        if await Membership.exists(group__name=group, actor__url=actor, state=state):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{actor} never got to {state} in {group}")


def posts_to(remote: FakeInstance, text: str) -> list[Any]:
    return [p for p in remote.received if text in p.body.decode(errors="replace")]


# -- suspend ---------------------------------------------------------------------------------


async def test_suspend_removes_members_cancels_deliveries_and_costs_no_request(world: World):
    server, bad = world.server, world.bad
    await join(server, bad, "mallory", "jazz")
    mallory = bad.actor_url("mallory")
    assert mallory.startswith("http://sub.bad.example:")
    assert any(r.method == "GET" for r in bad.requests), "the server reaches the named fake"

    # A delivery to it that is still owed (its server answered 503) when it is suspended.
    bad.inbox_responder = status_sequence(503, then=503)
    owed_post = await post_to_group(server, world.bob, "bob", "jazz", "<p>owed to mallory</p>")
    await bad.wait_for(lambda p: owed_post.ap_id in p.body.decode(), timeout=WAIT)
    owed = await _delivery_in(DeliveryState.RETRYING, f"sub.bad.example:{bad.port}")

    await set_rule("https://BAD.example./", "suspend", public_comment="spam farm")

    assert not await Membership.exists(actor__url=mallory)
    owed = await Delivery.get(id=owed.id)
    assert (owed.state, owed.last_error) == (DeliveryState.DROPPED, "bad.example is suspended")
    log = await ModlogEntry.filter(target__in=[mallory, "bad.example"]).order_by("id")
    assert [(e.group_id is None, e.action, e.moderator, e.reason) for e in log] == [
        (True, "set_policy", "admin", "suspend; spam farm"),
        (False, "remove_member", "automatic", "bad.example is suspended"),
    ]
    # Nobody was told of the removal: not mallory's server, not the group's members.
    assert not [p for p in bad.received if (p.json or {}).get("type") in ("Reject", "Block")]

    seen = len(bad.requests)
    answer = await post_signed(
        bad, server.url("/inbox"), note_create(bad, world.jazz, "mallory"), actor="mallory"
    )
    asked = follow(bad, world.jazz, "mallory")
    again = await post_signed(bad, server.url("/inbox"), asked, actor="mallory")
    assert (answer.status, again.status) == (403, 403)
    assert "suspended" in answer.body
    assert len(bad.requests) == seen, "a suspended server's request cost a request to it"

    # Nothing is delivered to it, also what something queues for it by name.
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": server.url(f"/activities/{uuid.uuid4()}"),
        "type": "Accept",
        "actor": world.jazz,
        "object": asked["id"],
    }
    group = await Group.get(name="jazz")
    await queue_activity(activity, group=group, inboxes=[bad.inbox_url("mallory")])
    await post_to_group(server, world.bob, "bob", "jazz", "<p>after the suspension</p>")
    row = await _settled(activity["id"])
    assert (row.state, row.last_error) == (
        DeliveryState.DROPPED,
        "not delivered: suspended on this server",
    )
    assert len(bad.requests) == seen
    assert not posts_to(bad, "after the suspension")


async def _delivery_in(state: DeliveryState, host: str) -> Delivery:
    for _ in range(500):
        row = await Delivery.get_or_none(host=host, state=state)
        if row is not None:
            return row
        await asyncio.sleep(0.02)
    raise AssertionError(f"no delivery to {host} got to {state}")


async def _settled(activity_id: str) -> Delivery:
    for _ in range(500):
        row = await Delivery.get_or_none(activity__ap_id=activity_id)
        if row is not None and row.state not in (DeliveryState.QUEUED, DeliveryState.RETRYING):
            return row
        await asyncio.sleep(0.02)
    raise AssertionError(f"the delivery of {activity_id} never settled")


# -- silence ---------------------------------------------------------------------------------


async def test_silence_makes_joining_need_approval_and_holds_posts(world: World):
    server = world.server
    loud = await start_remote("mastodon", "lou")
    try:
        await set_rule(loud.address, "silence")
        follow = await send_follow(loud, "lou", world.jazz)
        await wait_membership("jazz", loud.actor_url("lou"), MembershipState.PENDING)
        assert not [p for p in loud.received if (p.json or {}).get("type") == "Accept"]
        jazz = await Group.get(name="jazz")
        await approve(server.settings, jazz, loud.actor_url("lou"))
        await wait_accepted(loud, follow)

        create = await send_post(server, loud, "lou", "jazz", "<p>loud news</p>")
        await wait_handled(create["id"])
        kept = await HeldPost.get(object_id=create["object"]["id"])
        assert kept.reason == "from a domain silenced on this server"
        assert not await StoredObject.exists(ap_id=create["object"]["id"])
        assert not posts_to(world.bob, "loud news")

        await held.approve_held(server.settings, server.app[RUNTIME].fetcher, jazz, str(kept.id))
        announce = await world.bob.wait_for(lambda p: "loud news" in p.body.decode(), WAIT)
        assert lemmy_inner(announce, world.jazz)["id"] == create["id"]
    finally:
        await loud.close()


# -- reject media ----------------------------------------------------------------------------


async def test_reject_media_drops_attachments_from_what_is_announced(world: World):
    server = world.server
    pics = await start_remote("mastodon", "pia")
    attachment = [{"type": "Document", "mediaType": "image/png", "url": pics.url("/a.png")}]
    try:
        await join(server, pics, "pia", "jazz")
        before = await post_to_group(
            server, pics, "pia", "jazz", "<p>with picture</p>", attachment=attachment
        )
        assert before.document["attachment"] == attachment  # no rule yet: kept

        await set_rule(pics.address, "noop", reject_media=True)
        create = await send_post(
            server, pics, "pia", "jazz", "<p>picture dropped</p>", attachment=attachment
        )
        announce = await world.bob.wait_for(lambda p: "picture dropped" in p.body.decode(), WAIT)
        inner = lemmy_inner(announce, world.jazz)
        assert inner["id"] == create["id"]
        assert inner["object"]["id"] == create["object"]["id"]
        assert "attachment" not in inner["object"]
        assert "a.png" not in announce.body.decode()
        stored = await StoredObject.get(ap_id=create["object"]["id"])
        assert "attachment" not in stored.document
    finally:
        await pics.close()


# -- reject reports --------------------------------------------------------------------------


def lemmy_flag(reporter: FakeInstance, name: str, post: str, group_url: str) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": reporter.url(f"/activities/flag/{uuid.uuid4()}"),
        "type": "Flag",
        "actor": reporter.actor_url(name),
        "to": [group_url],
        "object": post,
        "summary": "spam",
    }


async def test_reject_reports_drops_flags_from_that_domain_only(world: World):
    server = world.server
    post = await post_to_group(server, world.bob, "bob", "jazz", "<p>reported</p>")
    noisy = await start_remote("lemmy", "rita")
    fair = await start_remote("lemmy", "fay")
    try:
        await set_rule(noisy.address, "noop", reject_reports=True)
        dropped = lemmy_flag(noisy, "rita", post.ap_id, world.jazz)
        kept = lemmy_flag(fair, "fay", post.ap_id, world.jazz)
        for remote, name, flag in ((noisy, "rita", dropped), (fair, "fay", kept)):
            answer = await post_signed(remote, server.url("/inbox"), flag, actor=name)
            assert answer.status == 202, answer.body
        row = await wait_handled(dropped["id"])
        assert "reports from" in (row.error or "") and "are rejected" in row.error
        await wait_handled(kept["id"])
        assert not await Report.exists(flag_id=dropped["id"])
        assert await Report.exists(flag_id=kept["id"])
    finally:
        await noisy.close()
        await fair.close()


# -- per-group rules -------------------------------------------------------------------------


async def test_a_group_rule_wins_over_the_server_rule_in_that_group(world: World):
    server = world.server
    chatty = await start_remote("mastodon", "cy")
    try:
        await set_rule(chatty.address, "silence")  # server-wide: approval needed
        await set_rule(chatty.address, "noop", group="blues")  # but not in blues
        await join(server, chatty, "cy", "blues")  # accepted at once
        await send_follow(chatty, "cy", world.jazz)
        await wait_membership("jazz", chatty.actor_url("cy"), MembershipState.PENDING)
    finally:
        await chatty.close()


async def test_a_group_suspension_keeps_the_domain_out_of_that_group_only(world: World):
    server = world.server
    other = await start_remote("mastodon", "oz")
    try:
        await join(server, other, "oz", "blues")
        await join(server, other, "oz", "jazz")
        await set_rule(other.address, "suspend", group="blues")
        oz = other.actor_url("oz")
        assert await Membership.exists(group__name="jazz", actor__url=oz)
        assert not await Membership.exists(group__name="blues", actor__url=oz)
        # At the group's own inbox the group's rule refuses before any fetch.
        seen = len(other.requests)
        blues = server.group_url("blues")
        answer = await post_signed(other, blues + "/inbox", follow(other, blues, "oz"), actor="oz")
        assert answer.status == 403 and len(other.requests) == seen
        # At the shared inbox it is refused by the group, and told nothing.
        shared = follow(other, blues, "oz")
        assert (await post_signed(other, server.url("/inbox"), shared, actor="oz")).status == 202
        await wait_handled(shared["id"])
        assert not await Membership.exists(group__name="blues", actor__url=oz)
        assert not [p for p in other.received if (p.json or {}).get("object") == shared]
        post = await post_to_group(server, world.bob, "bob", "jazz", "<p>still reaches oz</p>")
        await other.wait_for(lambda p: post.ap_id in p.body.decode(), WAIT)
    finally:
        await other.close()
