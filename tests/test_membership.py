"""Joining and leaving groups, as Mastodon, Lemmy and Pleroma servers do it, end to end.

Each fake remote instance verifies the signature of everything it receives (it fetches our
group's key over the socket), so a passing test means a strict real server would accept it.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from fedgroup.service import membership
from fedgroup.service.outbound import queue_activity
from fedgroup.storage.models import (
    Activity,
    ActivityState,
    Ban,
    Group,
    Instance,
    Membership,
    RemoteActor,
    StoredObject,
)
from tests.fakes import FakeInstance
from tests.fakes.fixtures import Corpus, rewrite
from tests.fakes.sender import post_signed
from tests.fakes.server import FedgroupServer
from tests.fakes.verify import verify_signed_post


@pytest.fixture
async def server(tmp_path: Path):
    async with FedgroupServer(tmp_path) as srv:
        await srv.create_group("jazz")
        await srv.create_group("vetted", approval=True)
        yield srv


async def make_remote(software: str = "mastodon", *names: str) -> FakeInstance:
    remote = FakeInstance(software=software)
    await remote.start()
    for name in names or ("alice",):
        remote.add_actor(name)
    remote.verify = verify_signed_post
    return remote


@pytest.fixture
async def mastodon():
    remote = await make_remote("mastodon", "alice", "bob", "carol")
    yield remote
    await remote.close()


def follow_of(remote: FakeInstance, group_url: str, actor: str = "alice") -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": remote.url(f"/{uuid.uuid4()}"),
        "type": "Follow",
        "actor": remote.actor_url(actor),
        "object": group_url,
    }


def undo_of(remote: FakeInstance, follow: dict[str, Any], actor: str = "alice") -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": follow["id"] + "/undo",
        "type": "Undo",
        "actor": remote.actor_url(actor),
        "object": {k: v for k, v in follow.items() if k != "@context"},
    }


def of_type(kind: str, object_id: str | None = None):
    def match(post) -> bool:
        body = post.json or {}
        if body.get("type") != kind:
            return False
        inner = body.get("object")
        return object_id is None or (isinstance(inner, dict) and inner.get("id") == object_id)

    return match


async def membership_state(group: str, actor_url: str) -> str | None:
    row = await Membership.get_or_none(group__name=group, actor__url=actor_url)
    return None if row is None else str(row.state)


async def wait_processed(ap_id: str, within: float = 10.0) -> Activity:
    """Until the inbound worker has handled the activity (done or ignored)."""
    async with asyncio.timeout(within):
        while True:
            row = await Activity.get_or_none(ap_id=ap_id)
            if row is not None and row.state != ActivityState.RECEIVED:
                return row
            await asyncio.sleep(0.05)


async def test_follow_open_group_is_accepted_with_signed_accept(server, mastodon):
    follow = follow_of(mastodon, server.group_url("jazz"))
    answer = await post_signed(mastodon, server.group_url("jazz") + "/inbox", follow)
    assert answer.status == 202
    accept = await mastodon.wait_for(of_type("Accept", follow["id"]), timeout=10)
    assert accept.verified is True
    assert accept.path == "/users/alice/inbox"
    assert accept.json["actor"] == server.group_url("jazz")
    assert accept.json["object"]["actor"] == mastodon.actor_url("alice")
    assert accept.json["object"]["object"] == server.group_url("jazz")
    assert await membership_state("jazz", mastodon.actor_url("alice")) == "accepted"
    actor = await RemoteActor.get(url=mastodon.actor_url("alice"))
    assert actor.shared_inbox == mastodon.shared_inbox_url
    instance = await Instance.get(host=mastodon.domain)
    assert instance.software == "mastodon" and instance.nodeinfo_fetched_at is not None


async def test_approval_group_holds_then_admin_approves(server, mastodon):
    follow = follow_of(mastodon, server.group_url("vetted"))
    await post_signed(mastodon, server.url("/inbox"), follow)
    await wait_processed(follow["id"])
    assert await membership_state("vetted", mastodon.actor_url("alice")) == "pending"
    assert not [p for p in mastodon.received if of_type("Accept")(p)]
    group = await Group.get(name="vetted")
    await membership.approve(server.settings, group, f"@alice@{mastodon.domain}")
    accept = await mastodon.wait_for(of_type("Accept", follow["id"]), timeout=10)
    assert accept.verified is True
    assert await membership_state("vetted", mastodon.actor_url("alice")) == "accepted"


async def test_approval_group_reject_tells_the_follower(server, mastodon):
    follow = follow_of(mastodon, server.group_url("vetted"))
    await post_signed(mastodon, server.url("/inbox"), follow)
    await wait_processed(follow["id"])
    group = await Group.get(name="vetted")
    await membership.reject(server.settings, group, mastodon.actor_url("alice"))
    rejected = await mastodon.wait_for(of_type("Reject", follow["id"]), timeout=10)
    assert rejected.verified is True
    assert await membership_state("vetted", mastodon.actor_url("alice")) is None


async def test_undo_follow_removes_membership(server, mastodon):
    follow = follow_of(mastodon, server.group_url("jazz"))
    await post_signed(mastodon, server.url("/inbox"), follow)
    await mastodon.wait_for(of_type("Accept", follow["id"]), timeout=10)
    undo = undo_of(mastodon, follow)
    assert (await post_signed(mastodon, server.url("/inbox"), undo)).status == 202
    await wait_processed(undo["id"])
    assert await membership_state("jazz", mastodon.actor_url("alice")) is None


async def test_banned_follower_is_rejected(server, mastodon):
    group = await Group.get(name="jazz")
    await Ban.create(group=group, actor_url=mastodon.actor_url("alice"), reason="spam")
    follow = follow_of(mastodon, server.group_url("jazz"))
    await post_signed(mastodon, server.url("/inbox"), follow)
    rejected = await mastodon.wait_for(of_type("Reject", follow["id"]), timeout=10)
    assert rejected.verified is True
    assert await membership_state("jazz", mastodon.actor_url("alice")) is None


async def test_domain_banned_server_wide_is_rejected(server, mastodon):
    await Ban.create(group=None, domain=mastodon.address, reason="harassment")
    follow = follow_of(mastodon, server.group_url("jazz"))
    # A server-wide domain ban is a block: refused at the inbox, nothing stored.
    answer = await post_signed(mastodon, server.url("/inbox"), follow)
    assert answer.status == 403
    assert await Activity.get_or_none(ap_id=follow["id"]) is None


async def test_repeated_follow_from_member_is_accepted_again(server, mastodon):
    first = follow_of(mastodon, server.group_url("jazz"))
    await post_signed(mastodon, server.url("/inbox"), first)
    await mastodon.wait_for(of_type("Accept", first["id"]), timeout=10)
    again = follow_of(mastodon, server.group_url("jazz"))
    await post_signed(mastodon, server.url("/inbox"), again)
    accept = await mastodon.wait_for(of_type("Accept", again["id"]), timeout=10)
    assert accept.verified is True
    assert await Membership.filter(group__name="jazz").count() == 1


async def test_three_members_on_one_server_share_one_delivery(server, mastodon):
    for name in ("alice", "bob", "carol"):
        follow = follow_of(mastodon, server.group_url("jazz"), actor=name)
        await post_signed(mastodon, server.url("/inbox"), follow, actor=name)
        await mastodon.wait_for(of_type("Accept", follow["id"]), timeout=10)
    group = await Group.get(name="jazz")
    inboxes = await membership.member_inboxes(group)
    assert inboxes == [mastodon.shared_inbox_url]
    note = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": server.url(f"/activities/{uuid.uuid4()}"),
        "type": "Announce",
        "actor": server.group_url("jazz"),
        "object": mastodon.url("/notes/1"),
        "to": [server.group_url("jazz") + "/followers"],
    }
    await queue_activity(note, group=group, inboxes=inboxes)
    await mastodon.wait_for(lambda p: (p.json or {}).get("id") == note["id"], timeout=10)
    await asyncio.sleep(0.5)
    copies = [p for p in mastodon.received if (p.json or {}).get("id") == note["id"]]
    assert len(copies) == 1 and copies[0].path == "/inbox" and copies[0].verified


async def test_deleted_account_loses_membership_and_content(server, mastodon):
    follow = follow_of(mastodon, server.group_url("jazz"))
    await post_signed(mastodon, server.url("/inbox"), follow)
    await mastodon.wait_for(of_type("Accept", follow["id"]), timeout=10)
    group = await Group.get(name="jazz")
    await StoredObject.create(
        ap_id=mastodon.url("/notes/9"),
        type="Note",
        attributed_to=mastodon.actor_url("alice"),
        group=group,
        document={"id": mastodon.url("/notes/9")},
    )
    delete = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": mastodon.actor_url("alice") + "#delete",
        "type": "Delete",
        "actor": mastodon.actor_url("alice"),
        "object": mastodon.actor_url("alice"),
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
    }
    assert (await post_signed(mastodon, server.url("/inbox"), delete)).status == 202
    await wait_processed(delete["id"])
    assert await membership_state("jazz", mastodon.actor_url("alice")) is None
    assert await StoredObject.filter(attributed_to=mastodon.actor_url("alice")).count() == 0
    assert await RemoteActor.get_or_none(url=mastodon.actor_url("alice")) is None


# -- real payloads -----------------------------------------------------------------------------

REAL_FOLLOWS = [
    # (fixture, software, foreign actor URL, foreign target URL)
    (
        "lemmy/activities/following/follow.json",
        "lemmy",
        "http://ds9.lemmy.ml/u/lemmy_alpha",
        "http://enterprise.lemmy.ml/c/main",
    ),
    (
        "mastodon/activities/follow.json",
        "mastodon",
        "https://masto.asonix.dog/users/asonix",
        "https://ds9.lemmy.ml/c/testcom",
    ),
    (
        "pleroma/activities/follow.json",
        "pleroma",
        "https://mycrowd.ca/users/kinetix",
        "https://lemmy.ca/u/kinetix",
    ),
]

REAL_UNDOS = [
    (
        "lemmy/activities/following/undo_follow.json",
        "lemmy",
        "http://ds9.lemmy.ml/u/lemmy_alpha",
        "http://enterprise.lemmy.ml/c/main",
    ),
    (
        "mastodon/activities/undo_follow.json",
        "mastodon",
        "https://masto.asonix.dog/users/asonix",
        "https://ds9.lemmy.ml/c/testcom",
    ),
]


def _onto(remote: FakeInstance, server: FedgroupServer, actor: str, target: str) -> dict:
    name = actor.rstrip("/").rsplit("/", 1)[1]
    origin = actor.split("/", 3)[:3]
    return {
        actor: remote.actor_url(name),
        "/".join(origin): remote.base_url,
        target: server.group_url("jazz"),
    }


@pytest.mark.parametrize(("fixture", "software", "actor", "target"), REAL_FOLLOWS)
async def test_real_follow_payloads_are_accepted(
    server, fixture, software, actor, target, conformance_corpus: Corpus
):
    name = actor.rsplit("/", 1)[1]
    remote = await make_remote(software, name)
    try:
        follow = rewrite(conformance_corpus.load(fixture), _onto(remote, server, actor, target))
        answer = await post_signed(remote, server.url("/inbox"), follow, actor=name)
        assert answer.status == 202, answer.body
        accept = await remote.wait_for(of_type("Accept", follow["id"]), timeout=10)
        assert accept.verified is True
        assert await membership_state("jazz", remote.actor_url(name)) == "accepted"
    finally:
        await remote.close()


@pytest.mark.parametrize(("fixture", "software", "actor", "target"), REAL_UNDOS)
async def test_real_undo_follow_payloads_remove_the_member(
    server, fixture, software, actor, target, conformance_corpus: Corpus
):
    name = actor.rsplit("/", 1)[1]
    remote = await make_remote(software, name)
    try:
        mapping = _onto(remote, server, actor, target)
        undo = rewrite(conformance_corpus.load(fixture), mapping)
        follow = undo["object"]
        await post_signed(remote, server.url("/inbox"), follow, actor=name)
        await remote.wait_for(of_type("Accept", follow["id"]), timeout=10)
        assert await membership_state("jazz", remote.actor_url(name)) == "accepted"
        assert (await post_signed(remote, server.url("/inbox"), undo, actor=name)).status == 202
        await wait_processed(undo["id"])
        assert await membership_state("jazz", remote.actor_url(name)) is None
    finally:
        await remote.close()
