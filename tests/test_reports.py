"""Reports: `Flag`s in Mastodon's, Lemmy's and Mbin's shapes reach the group's moderators with
who, what and why; a report whose reporter asked is forwarded to the reported author's
server; resolving one tells a Lemmy reporter's server with `Resolve`, as Lemmy does.

One server for the module; alice posts from a Mastodon; the reporters are on a Mastodon (its
instance actor, as Mastodon reports), a Lemmy and an Mbin, each a fake on its own address.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from fedgroup.app_keys import RUNTIME
from fedgroup.service import reports
from fedgroup.storage.models import Activity, Group, ModlogEntry, Report, ReportState
from tests.fakes import FakeInstance
from tests.fakes.fixtures import Corpus, rewrite_ids
from tests.fakes.members import join, post_to_group, start_remote, wait_handled
from tests.fakes.sender import post_signed
from tests.fakes.server import FedgroupServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = "jazz"
WAIT = 10.0


@dataclass
class World:
    server: FedgroupServer
    authors: FakeInstance  # alice (Mastodon)
    mastodon: FakeInstance  # reports as its instance actor, "actor"
    lemmy: FakeInstance  # lemmy_alpha
    mbin: FakeInstance  # BentiGorlich

    @property
    def group_url(self) -> str:
        return self.server.group_url(GROUP)

    async def post(self, text: str) -> str:
        row = await post_to_group(self.server, self.authors, "alice", GROUP, f"<p>{text}</p>")
        return row.ap_id

    async def send(self, remote: FakeInstance, name: str, flag: dict[str, Any]) -> Activity:
        answer = await post_signed(remote, self.server.url("/inbox"), flag, actor=name)
        assert answer.status == 202, answer.body
        return await wait_handled(flag["id"])


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with FedgroupServer(tmp_path_factory.mktemp("reports")) as server:
        await server.create_group(GROUP)
        remotes = [
            await start_remote("mastodon", "alice"),
            await start_remote("mastodon"),
            await start_remote("lemmy", "lemmy_alpha"),
            await start_remote("mbin", "BentiGorlich"),
        ]
        remotes[1].add_actor("actor", type="Application")
        try:
            await join(server, remotes[0], "alice", GROUP)
            await join(server, remotes[2], "lemmy_alpha", GROUP)
            yield World(server, *remotes)
        finally:
            for remote in remotes:
                await remote.close()


def flags_to(remote: FakeInstance) -> list[dict[str, Any]]:
    return [p.json for p in remote.received if (p.json or {}).get("type") == "Flag"]


# -- the real shapes ------------------------------------------------------------------------


async def test_real_flags_in_the_three_shapes(world: World, conformance_corpus: Corpus):
    alice = world.authors.actor_url("alice")
    first, second, third = [await world.post(t) for t in ("buy", "cheap", "now")]

    mastodon = rewrite_ids(
        conformance_corpus.load("mastodon/activities/flag.json"),
        {
            "https://mastodon.example/actor": world.mastodon.actor_url("actor"),
            "https://mastodon.example/": world.mastodon.url("/"),
            "https://example.com/users/1": alice,
            "https://example.com/posts/380590": first,
            "https://example.com/posts/380591": second,
        },
    )
    lemmy = rewrite_ids(
        conformance_corpus.load("lemmy/activities/community/report_page.json"),
        {
            "http://ds9.lemmy.ml/u/": world.lemmy.url("/users/"),
            "http://ds9.lemmy.ml": world.lemmy.base_url,
            "http://enterprise.lemmy.ml/c/main": world.group_url,
            "http://enterprise.lemmy.ml/u/main": world.group_url,
            "http://enterprise.lemmy.ml/post/7": third,
        },
    )
    mbin = rewrite_ids(
        conformance_corpus.load("mbin/activities/flag.json"),
        {
            "https://mbin-test1/u/": world.mbin.url("/users/"),
            "https://mbin-test1": world.mbin.base_url,
            "https://lemmy-test/c/test_mag": world.group_url,
            "https://lemmy-test/post/4": first,
            "https://lemmy-test/u/BentiGorlich": alice,
        },
    )
    sent = [
        (world.mastodon, "actor", mastodon),
        (world.lemmy, "lemmy_alpha", lemmy),
        (world.mbin, "BentiGorlich", mbin),
    ]
    for remote, name, flag in sent:
        row = await world.send(remote, name, flag)
        assert row.error is None, row.error

    stored = {r.flag_id: r for r in await Report.filter(flag_id__in=[f["id"] for *_, f in sent])}
    m, le, mb = (stored[f["id"]] for *_, f in sent)
    assert (m.reporter, m.author, m.reason) == (
        world.mastodon.actor_url("actor"),
        alice,
        "Please take a look at this user and their posts",
    )
    assert m.objects == [alice, first, second] and m.forward
    assert (le.reporter, le.author, le.objects, le.reason) == (
        world.lemmy.actor_url("lemmy_alpha"),
        alice,
        [third],
        "report this post",
    )
    assert (mb.author, mb.objects, mb.reason) == (alice, [first, alice], "dikjhgasdpas dsaü")
    assert not le.forward and not mb.forward, "addressed to the group: for its moderators"

    # Mastodon's reporter asked for the author's server to be told: the group reports, anonymously.
    forwarded = await world.authors.wait_for(
        lambda p: (p.json or {}).get("type") == "Flag", timeout=WAIT
    )
    assert forwarded.verified is True
    assert forwarded.json["actor"] == world.group_url
    assert forwarded.json["object"] == [alice, first, second]
    assert forwarded.json["content"] == m.reason and forwarded.json["to"] == [alice]
    assert world.mastodon.actor_url("actor") not in forwarded.body.decode()
    assert len(flags_to(world.authors)) == 1


# -- our own payloads of those shapes -------------------------------------------------------


def flag(world: World, remote: FakeInstance, name: str, objects: Any, **extra: Any):
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": remote.url(f"/flags/{uuid.uuid4()}"),
        "type": "Flag",
        "actor": remote.actor_url(name),
        "object": objects,
        **extra,
    }


async def test_reports_are_stored_once_and_logged_and_strangers_reports_refused(world: World):
    post = await world.post("rude")
    lemmy_shaped = flag(
        world, world.lemmy, "lemmy_alpha", post, summary="rude", to=[world.group_url]
    )
    assert (await world.send(world.lemmy, "lemmy_alpha", lemmy_shaped)).error is None
    replay = {**lemmy_shaped}
    await post_signed(world.lemmy, world.server.url("/inbox"), replay, actor="lemmy_alpha")
    assert await Report.filter(flag_id=lemmy_shaped["id"]).count() == 1
    entry = await ModlogEntry.filter(action="report").order_by("-id").first()
    assert (entry.moderator, entry.target, entry.reason) == (
        world.lemmy.actor_url("lemmy_alpha"),
        post,
        "rude",
    )

    # Mastodon's array shape without `to`: the reporter did not ask to forward.
    quiet = flag(
        world, world.mastodon, "actor", [world.authors.actor_url("alice"), post], content="hm"
    )
    assert (await world.send(world.mastodon, "actor", quiet)).error is None
    row = await Report.get(flag_id=quiet["id"])
    assert not row.forward and row.forwarded_at is None

    elsewhere = flag(world, world.mbin, "BentiGorlich", ["https://elsewhere.example/p/1"])
    row = await world.send(world.mbin, "BentiGorlich", elsewhere)
    assert row.error == "ignored: Flag about nothing in a group here"
    nothing = flag(world, world.mbin, "BentiGorlich", [], to=[world.group_url])
    assert (await world.send(world.mbin, "BentiGorlich", nothing)).error == (
        "ignored: Flag names nothing"
    )
    assert not await Report.filter(flag_id__in=[elsewhere["id"], nothing["id"]]).exists()


async def test_resolving_tells_a_lemmy_reporter_and_no_one_else(world: World):
    post = await world.post("spam")
    by_lemmy = flag(world, world.lemmy, "lemmy_alpha", post, summary="spam", to=[world.group_url])
    by_mastodon = flag(world, world.mastodon, "actor", [post], content="spam")
    await world.send(world.lemmy, "lemmy_alpha", by_lemmy)
    await world.send(world.mastodon, "actor", by_mastodon)
    group = await Group.get(name=GROUP)
    fetcher = world.server.app[RUNTIME].fetcher
    open_ids = [r.id for r in await reports.list_reports(group)]
    lemmy_report = await Report.get(flag_id=by_lemmy["id"])
    mastodon_report = await Report.get(flag_id=by_mastodon["id"])
    assert {lemmy_report.id, mastodon_report.id} <= set(open_ids)

    await reports.resolve_report(world.server.settings, fetcher, group, str(lemmy_report.id))
    await reports.resolve_report(world.server.settings, fetcher, group, str(mastodon_report.id))
    resolve = await world.lemmy.wait_for(
        lambda p: (p.json or {}).get("type") == "Resolve", timeout=WAIT
    )
    assert resolve.verified is True
    assert resolve.json["object"]["id"] == by_lemmy["id"]
    assert resolve.json["object"]["type"] == "Flag"
    assert resolve.json["to"] == [world.group_url]
    assert not [p for p in world.mastodon.received if (p.json or {}).get("type") == "Resolve"]
    left = {r.id for r in await reports.list_reports(group)}
    assert lemmy_report.id not in left and mastodon_report.id not in left
    assert (await Report.get(id=lemmy_report.id)).state == ReportState.RESOLVED
