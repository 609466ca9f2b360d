"""Group moderation end to end: moderators, removals, pins, locks and purging bans, decided by
the admin (service calls, as `fedgroup admin` makes them, and one real CLI process) or by a
remote moderator's own Lemmy-style activities, and what each member's server receives.

One server and five fake servers for the module, on distinct loopback addresses: alice and
dave post from a Mastodon, carol is a member on another Mastodon (shown boosts), bob a
member on a Lemmy (reads the group's Announces, checked the way Lemmy checks a moderation
activity: tests.fakes.software.lemmy_mod_action), and mia, on a second Lemmy, moderates.
Each test works on posts of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from fedgroup.activitypub.actors import instance_actor_url
from fedgroup.activitypub.vocab import PUBLIC, id_of
from fedgroup.app_keys import RUNTIME
from fedgroup.service import bans, moderation, moderators, modlog
from fedgroup.storage.models import Activity, Ban, Group, ModlogEntry, StoredObject
from tests.fakes import FakeInstance
from tests.fakes.instance import ReceivedPost
from tests.fakes.members import join, post_to_group, send_post, start_remote, wait_handled
from tests.fakes.process import AdminCli
from tests.fakes.sender import post_signed
from tests.fakes.server import FedgroupServer
from tests.fakes.software import lemmy_mod_action, mastodon_boost_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = "jazz"
WAIT = 10.0


@dataclass
class World:
    server: FedgroupServer
    authors: FakeInstance  # alice, dave (Mastodon)
    masto: FakeInstance  # carol (Mastodon)
    lemmy: FakeInstance  # bob (Lemmy)
    mods: FakeInstance  # mia (Lemmy), a moderator of the group

    @property
    def group_url(self) -> str:
        return self.server.group_url(GROUP)

    @property
    def fetcher(self):
        return self.server.app[RUNTIME].fetcher

    async def group(self) -> Group:
        return await Group.get(name=GROUP)

    async def read(self, path: str) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                self.server.url(path), headers={"Accept": "application/activity+json"}
            ) as answer,
        ):
            assert answer.status == 200, await answer.text()
            return await answer.json(content_type=None)

    async def as_lemmy_sees(self, post: ReceivedPost) -> dict[str, Any] | None:
        """The moderation activity bob's Lemmy would apply from what it received."""
        community = await self.read(f"/groups/{GROUP}")
        listed = await self.read(f"/groups/{GROUP}/moderators")
        return lemmy_mod_action(post, community, listed["orderedItems"])


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with FedgroupServer(tmp_path_factory.mktemp("moderation")) as server:
        await server.create_group(GROUP)
        remotes = [
            await start_remote("mastodon", "alice", "dave"),
            await start_remote("mastodon", "carol"),
            await start_remote("lemmy", "bob"),
            await start_remote("lemmy", "mia"),
        ]
        try:
            authors, masto, lemmy, mods = remotes
            for remote, name in (
                (authors, "alice"),
                (authors, "dave"),
                (masto, "carol"),
                (lemmy, "bob"),
                (mods, "mia"),
            ):
                await join(server, remote, name, GROUP)
            world = World(server, authors, masto, lemmy, mods)
            await moderators.add_moderator(
                server.settings, world.fetcher, await world.group(), mods.actor_url("mia")
            )
            yield world
        finally:
            for remote in remotes:
                await remote.close()


def announce_of(kind: str, object_id: str, *, undone: bool = False):
    """Matches the group's Announce of a `kind` activity on `object_id` (of an Undo of one)."""

    def match(post: ReceivedPost) -> bool:
        body = post.json or {}
        inner = body.get("object")
        if body.get("type") != "Announce" or not isinstance(inner, dict):
            return False
        if undone:
            if inner.get("type") != "Undo" or not isinstance(inner.get("object"), dict):
                return False
            inner = inner["object"]
        return inner.get("type") == kind and id_of(inner.get("object")) == object_id

    return match


def boost_of(object_id: str):
    return lambda p: (
        (p.json or {}).get("type") == "Announce" and (p.json or {}).get("object") == object_id
    )


def undo_of_boost(object_id: str):
    def match(post: ReceivedPost) -> bool:
        body = post.json or {}
        inner = body.get("object")
        return (
            body.get("type") == "Undo"
            and isinstance(inner, dict)
            and inner.get("type") == "Announce"
            and inner.get("object") == object_id
        )

    return match


def sent_to(remote: FakeInstance, needle: str) -> list[ReceivedPost]:
    return [p for p in remote.received if needle in p.body.decode(errors="replace")]


async def last_log(n: int) -> list[tuple[str, str, str, str]]:
    rows = await ModlogEntry.all().order_by("-id").limit(n)
    return [(r.action, r.moderator, r.target, r.reason) for r in rows]


# -- moderators -----------------------------------------------------------------------------


async def test_moderators_are_published_announced_to_lemmy_and_may_post_when_restricted(
    world: World,
):
    server, group = world.server, await world.group()
    actor = await world.read(f"/groups/{GROUP}")
    assert actor["attributedTo"] == actor["moderators"] == world.group_url + "/moderators"
    carol = world.masto.actor_url("carol")
    await moderators.add_moderator(server.settings, world.fetcher, group, carol)
    listed = await world.read(f"/groups/{GROUP}/moderators")
    assert listed["orderedItems"] == [world.mods.actor_url("mia"), carol]
    assert listed["totalItems"] == 2

    added = await world.lemmy.wait_for(announce_of("Add", carol), timeout=WAIT)
    change = await world.as_lemmy_sees(added)
    assert change is not None, added.json
    assert change["actor"] == instance_actor_url(server.base_url)
    assert change["target"] == world.group_url + "/moderators"
    assert not sent_to(world.masto, '"Add"'), "microblogging software has no moderators"

    group.posting_restricted_to_mods = True
    await group.save()
    try:
        by_mod = await post_to_group(server, world.masto, "carol", GROUP, "<p>rules</p>")
        await world.lemmy.wait_for(lambda p: by_mod.ap_id in p.body.decode(), timeout=WAIT)
        create = await send_post(server, world.authors, "alice", GROUP, "<p>new topic</p>")
        row = await wait_handled(create["id"])
        assert row.error == f"ignored: {GROUP} accepts top-level posts from moderators only"
        reply = await post_to_group(
            server, world.authors, "alice", GROUP, "<p>ok</p>", in_reply_to=by_mod.ap_id
        )
        assert reply.group_id == group.id, "members still answer"
    finally:
        group.posting_restricted_to_mods = False
        await group.save()

    await moderators.remove_moderator(server.settings, group, "@carol@" + world.masto.domain)
    removed = await world.lemmy.wait_for(announce_of("Remove", carol), timeout=WAIT)
    assert removed.verified is True
    listed = await world.read(f"/groups/{GROUP}/moderators")
    assert listed["orderedItems"] == [world.mods.actor_url("mia")]
    assert await last_log(2) == [
        ("remove_moderator", "admin", carol, ""),
        ("add_moderator", "admin", carol, ""),
    ]


# -- removals -------------------------------------------------------------------------------


async def test_admin_removal_and_restore_reach_each_kind_of_server(world: World):
    server = world.server
    post = await post_to_group(server, world.authors, "alice", GROUP, "<p>off topic</p>")
    await world.masto.wait_for(boost_of(post.ap_id), timeout=WAIT)
    admin = AdminCli.beside(server.settings)
    result = await admin("posts", "remove", GROUP, post.ap_id, "--reason", "off topic")
    assert result.stdout == f"removed {post.ap_id} in {GROUP}\n"

    removal = await world.lemmy.wait_for(announce_of("Delete", post.ap_id), timeout=WAIT)
    applied = await world.as_lemmy_sees(removal)
    assert applied is not None and applied["summary"] == "off topic"
    withdrawn = await world.masto.wait_for(undo_of_boost(post.ap_id), timeout=WAIT)
    assert withdrawn.verified is True
    assert (await StoredObject.get(id=post.id)).removed
    outbox = await world.read(f"/groups/{GROUP}/outbox")
    assert post.ap_id not in str(outbox["orderedItems"])
    # Its author cannot bring it back by editing it.
    edited = {**post.document, "content": "<p>on topic now</p>", "updated": "2026-11-24T00:00:00Z"}
    world.authors.serve(post.ap_id.removeprefix(world.authors.base_url), edited)
    update = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": post.ap_id + "/edit",
        "type": "Update",
        "actor": world.authors.actor_url("alice"),
        "to": [PUBLIC],
        "object": edited,
    }
    row = await send_as(world, world.authors, "alice", update)
    assert row.error == f"ignored: edit of {post.ap_id}, which a moderator removed"

    fresh = await StoredObject.get(id=post.id)
    await moderation.restore_post(server.settings, await world.group(), fresh, reason="fine")
    restore = await world.lemmy.wait_for(
        announce_of("Delete", post.ap_id, undone=True), timeout=WAIT
    )
    assert await world.as_lemmy_sees(restore) is not None
    boosts = [p for p in world.masto.received if boost_of(post.ap_id)(p)]
    await world.masto.wait_for(
        lambda p: boost_of(post.ap_id)(p) and p.json["id"] != boosts[0].json["id"], timeout=WAIT
    )
    again = [p for p in world.masto.received if boost_of(post.ap_id)(p)][-1]
    assert (await mastodon_boost_of(again))["id"] == post.ap_id
    assert not (await StoredObject.get(id=post.id)).removed
    assert post.ap_id in str((await world.read(f"/groups/{GROUP}/outbox"))["orderedItems"])
    assert (await last_log(2))[::-1] == [
        ("remove_post", "admin", post.ap_id, "off topic"),
        ("restore_post", "admin", post.ap_id, "fine"),
    ]
    again_cli = await admin("posts", "restore", GROUP, post.ap_id, check=False)
    assert (again_cli.returncode, again_cli.stderr) == (1, f"error: {post.ap_id} is not removed\n")


# -- pins and locks -------------------------------------------------------------------------


async def test_pins_fill_the_featured_collection_and_locks_refuse_replies(world: World):
    server, group = world.server, await world.group()
    post = await post_to_group(
        server, world.authors, "alice", GROUP, "<p>welcome</p>", kind="Page", title="Welcome"
    )
    await moderation.set_pinned(server.settings, group, post, True)
    pinned = await world.lemmy.wait_for(announce_of("Add", post.ap_id), timeout=WAIT)
    change = await world.as_lemmy_sees(pinned)
    assert change is not None and change["target"] == world.group_url + "/featured"
    featured = await world.read(f"/groups/{GROUP}/featured")
    assert [item["id"] for item in featured["orderedItems"]] == [post.ap_id]
    assert featured["orderedItems"][0]["name"] == "Welcome" and featured["totalItems"] == 1
    assert not sent_to(world.masto, '"Add"')

    await moderation.set_locked(server.settings, group, post, True, reason="heated")
    locked = await world.lemmy.wait_for(announce_of("Lock", post.ap_id), timeout=WAIT)
    assert (await world.as_lemmy_sees(locked))["summary"] == "heated"
    reply = await send_post(
        server, world.masto, "carol", GROUP, "<p>but</p>", in_reply_to=post.ap_id
    )
    row = await wait_handled(reply["id"])
    assert row.error == f"ignored: the thread of {post.ap_id} is locked in {GROUP}"
    # A reply under a reply of a locked post is refused as well; a moderator may answer.
    by_mod = await post_to_group(
        server, world.mods, "mia", GROUP, "<p>calm down</p>", in_reply_to=post.ap_id
    )
    deeper = await send_post(
        server, world.masto, "carol", GROUP, "<p>no</p>", in_reply_to=by_mod.ap_id
    )
    assert (await wait_handled(deeper["id"])).error.endswith("is locked in jazz")

    await moderation.set_locked(server.settings, group, post, False)
    unlocked = await world.lemmy.wait_for(
        announce_of("Lock", post.ap_id, undone=True), timeout=WAIT
    )
    assert await world.as_lemmy_sees(unlocked) is not None
    await post_to_group(server, world.masto, "carol", GROUP, "<p>ok</p>", in_reply_to=post.ap_id)

    await moderation.set_pinned(server.settings, group, post, False)
    await world.lemmy.wait_for(announce_of("Remove", post.ap_id), timeout=WAIT)
    assert (await world.read(f"/groups/{GROUP}/featured"))["orderedItems"] == []
    assert [a for a, *_ in await last_log(4)] == [
        "unpin_post",
        "unlock_post",
        "lock_post",
        "pin_post",
    ]


async def test_a_locked_comment_refuses_answers_anywhere_under_it(world: World):
    server, group = world.server, await world.group()
    root = await post_to_group(server, world.authors, "alice", GROUP, "<p>topic</p>")
    comment = await post_to_group(
        server, world.masto, "carol", GROUP, "<p>hot take</p>", in_reply_to=root.ap_id
    )
    answer = await post_to_group(
        server, world.authors, "alice", GROUP, "<p>no</p>", in_reply_to=comment.ap_id
    )
    await moderation.set_locked(server.settings, group, comment, True)
    deeper = await send_post(
        server, world.masto, "carol", GROUP, "<p>yes</p>", in_reply_to=answer.ap_id
    )
    row = await wait_handled(deeper["id"])
    assert row.error == f"ignored: the thread of {answer.ap_id} is locked in {GROUP}"
    beside = await post_to_group(
        server, world.masto, "carol", GROUP, "<p>elsewhere</p>", in_reply_to=root.ap_id
    )
    assert beside.group_id == group.id, "the rest of the thread stays open"


# -- a remote moderator's own activities ----------------------------------------------------


def lemmy_style(world: World, kind: str, obj: Any, **extra: Any) -> dict[str, Any]:
    """mia's moderation activity, as her Lemmy sends it."""
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": world.mods.url(f"/activities/{kind.lower()}/{uuid.uuid4()}"),
        "type": kind,
        "actor": world.mods.actor_url("mia"),
        "to": [PUBLIC],
        "cc": [world.group_url],
        "audience": world.group_url,
        "object": obj,
        **extra,
    }


async def send_as(world: World, remote: FakeInstance, name: str, activity: dict[str, Any]):
    answer = await post_signed(remote, world.server.url("/inbox"), activity, actor=name)
    assert answer.status == 202, answer.body
    return await wait_handled(activity["id"])


async def test_a_remote_moderator_removes_restores_locks_and_pins_as_lemmy_sends_it(world: World):
    post = await post_to_group(world.server, world.authors, "alice", GROUP, "<p>spam</p>")
    mia = world.mods.actor_url("mia")
    removal = lemmy_style(world, "Delete", post.ap_id, summary="spam")
    assert (await send_as(world, world.mods, "mia", removal)).error is None
    announced = await world.lemmy.wait_for(announce_of("Delete", post.ap_id), timeout=WAIT)
    assert announced.json["object"] == removal, "the moderator's activity, unchanged"
    assert await world.as_lemmy_sees(announced) == removal
    await world.masto.wait_for(undo_of_boost(post.ap_id), timeout=WAIT)
    assert (await StoredObject.get(id=post.id)).removed

    restore = lemmy_style(world, "Undo", {k: v for k, v in removal.items() if k != "@context"})
    assert (await send_as(world, world.mods, "mia", restore)).error is None
    await world.lemmy.wait_for(announce_of("Delete", post.ap_id, undone=True), timeout=WAIT)
    assert not (await StoredObject.get(id=post.id)).removed

    lock = lemmy_style(world, "Lock", post.ap_id, summary="enough")
    assert (await send_as(world, world.mods, "mia", lock)).error is None
    featured = world.group_url + "/featured"
    pin = lemmy_style(world, "Add", post.ap_id, target=featured)
    assert (await send_as(world, world.mods, "mia", pin)).error is None
    await world.lemmy.wait_for(announce_of("Add", post.ap_id), timeout=WAIT)
    row = await StoredObject.get(id=post.id)
    assert row.locked and row.pinned_at is not None
    assert [(a, m) for a, m, *_ in await last_log(4)] == [
        ("pin_post", mia),
        ("lock_post", mia),
        ("restore_post", mia),
        ("remove_post", mia),
    ]

    # Not a moderator: refused, nothing sent on.
    before = await Activity.filter(inbound=False).count()
    by_member = {**lemmy_style(world, "Lock", post.ap_id), "actor": world.lemmy.actor_url("bob")}
    by_member["id"] = world.lemmy.url(f"/activities/lock/{uuid.uuid4()}")
    row = await send_as(world, world.lemmy, "bob", by_member)
    assert row.error == f"ignored: {world.lemmy.actor_url('bob')} is not a moderator of {GROUP}"
    # Naming moderators is the admin's.
    named = lemmy_style(
        world, "Add", world.lemmy.actor_url("bob"), target=world.group_url + "/moderators"
    )
    row = await send_as(world, world.mods, "mia", named)
    assert row.error == f"ignored: moderators of {GROUP} are named by this server's admin"
    assert await Activity.filter(inbound=False).count() == before


# -- bans that clean up ---------------------------------------------------------------------


async def test_ban_with_purge_removes_past_posts_everywhere(world: World):
    server = world.server
    dave = world.authors.actor_url("dave")
    first = await post_to_group(server, world.authors, "dave", GROUP, "<p>buy now</p>")
    second = await post_to_group(server, world.authors, "dave", GROUP, "<p>cheap</p>")
    await bans.ban_actor(
        server.settings, await world.group(), dave, "spam", fetcher=world.fetcher, purge=True
    )
    for post in (first, second):
        removal = await world.lemmy.wait_for(announce_of("Delete", post.ap_id), timeout=WAIT)
        assert (await world.as_lemmy_sees(removal))["summary"] == "spam"
        await world.masto.wait_for(undo_of_boost(post.ap_id), timeout=WAIT)
        assert (await StoredObject.get(id=post.id)).removed
    block = await world.authors.wait_for(
        lambda p: (p.json or {}).get("type") == "Block" and p.json["object"] == dave, WAIT
    )
    assert block.json["removeData"] is True and block.json["summary"] == "spam"
    assert (await last_log(3))[::-1] == [
        ("ban", "admin", dave, "spam; posts removed"),
        ("remove_post", "admin", first.ap_id, "spam"),
        ("remove_post", "admin", second.ap_id, "spam"),
    ]
    await bans.unban(await world.group(), dave)


async def test_a_remote_moderators_block_bans_for_its_days_and_undo_lifts_it(world: World):
    troll = world.authors.actor_url("alice")
    post = await post_to_group(world.server, world.authors, "alice", GROUP, "<p>flame</p>")
    block = lemmy_style(
        world,
        "Block",
        troll,
        target=world.group_url,
        summary="flaming",
        removeData=True,
        endTime=(datetime.now(UTC) + timedelta(days=30)).isoformat(),
    )
    assert (await send_as(world, world.mods, "mia", block)).error is None
    ban = await Ban.get(group__name=GROUP, actor_url=troll)
    assert ban.expires_at is not None
    assert timedelta(days=29) < ban.expires_at - datetime.now(UTC) <= timedelta(days=30)
    await world.lemmy.wait_for(announce_of("Delete", post.ap_id), timeout=WAIT)
    assert (await StoredObject.get(id=post.id)).removed
    undo = lemmy_style(world, "Undo", {k: v for k, v in block.items() if k != "@context"})
    assert (await send_as(world, world.mods, "mia", undo)).error is None
    assert not await Ban.exists(group__name=GROUP, actor_url=troll)
    assert [(a, m) for a, m, *_ in await last_log(1)] == [("unban", world.mods.actor_url("mia"))]
    await join(world.server, world.authors, "alice", GROUP)  # back for the other tests


async def test_modlog_entries_name_who_decided(world: World):
    entries = await modlog.entries(await world.group(), limit=500)
    assert {e.moderator for e in entries} == {"admin", world.mods.actor_url("mia")}
