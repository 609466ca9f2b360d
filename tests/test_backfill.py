"""A new member's Lemmy catches up on a group: it follows, gets the Accept, then reads what
the group said before, as Lemmy does when it first fetches a community.

One fedgroup server in secure mode (`authorized_fetch`: every read of content must be
signed, as Lemmy signs its fetches) on a real SQLite file; members on a Mastodon-like server
(alice) and a Lemmy-like one (bob) post and answer; the admin pins posts. Then a second
Lemmy-like server on its own loopback address (lena) follows the group and reads, with
signed GETs: the outbox's head (Announce{Create{Page}}, the latest first), `featured` (the
pins, as Lemmy's GroupFeatured parser takes them) and a thread's collection (FEP-7888).
What it would show is asserted with the models of Lemmy's readers in tests.fakes.software.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from fedgroup.service import moderation
from fedgroup.storage.models import Group, StoredObject
from tests.fakes import FakeInstance
from tests.fakes.fixtures import Corpus
from tests.fakes.members import join, post_to_group, start_remote
from tests.fakes.sender import signed_get
from tests.fakes.server import FedgroupServer
from tests.fakes.software import (
    lemmy_featured_posts,
    lemmy_outbox_posts,
    lemmy_page_refusal,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = "jazz"
AS_JSON = {"Accept": "application/activity+json"}


@dataclass
class World:
    server: FedgroupServer
    alice: FakeInstance  # Mastodon-like, alice is a member
    lemmy: FakeInstance  # Lemmy-like, bob is a member

    @property
    def group_url(self) -> str:
        return self.server.group_url(GROUP)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with FedgroupServer(tmp_path_factory.mktemp("backfill"), authorized_fetch=1) as server:
        await server.create_group(GROUP)
        alice = await start_remote("mastodon", "alice")
        lemmy = await start_remote("lemmy", "bob")
        try:
            await join(server, alice, "alice", GROUP)
            await join(server, lemmy, "bob", GROUP)
            yield World(server, alice, lemmy)
        finally:
            await alice.close()
            await lemmy.close()


async def get(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as answer:
        return answer.status, await answer.json(content_type=None)


async def pin(world: World, post: StoredObject) -> None:
    """As `fedgroup admin posts pin jazz URL` does."""
    group = await Group.get(name=GROUP)
    await moderation.set_pinned(world.server.settings, group, post, True)


async def test_a_new_lemmy_member_reads_outbox_featured_and_threads(world: World):
    server = world.server
    welcome = await post_to_group(
        server, world.lemmy, "bob", GROUP, "<p>read this first</p>", kind="Page", title="Welcome"
    )
    poll = await post_to_group(
        server, world.alice, "alice", GROUP, "<p>Favourite style?</p>", kind="Question",
        oneOf=[{"type": "Note", "name": n, "replies": {"type": "Collection", "totalItems": 0}}
               for n in ("Stride", "Bebop")],
    )
    stride = await post_to_group(server, world.alice, "alice", GROUP, "<p>who plays stride?</p>")
    answer = await post_to_group(
        server, world.lemmy, "bob", GROUP, "<p>I do</p>", in_reply_to=stride.ap_id
    )
    patterns = await post_to_group(
        server, world.lemmy, "bob", GROUP, "<p>tenths</p>", kind="Page",
        title="Left-hand patterns",
    )
    # Pinned oldest first; `featured` lists the latest pinned first. A comment and a poll
    # are pinned too: Lemmy has neither as a post (its featured holds Pages only).
    for post in (stride, answer, poll, welcome):
        await pin(world, post)

    # A new member on another Lemmy: Follow, then the group's Accept (join waits for it).
    newcomer = await start_remote("lemmy", "lena")
    try:
        await join(server, newcomer, "lena", GROUP)

        async def lemmy_fetch(url: str) -> dict[str, Any] | None:
            status, doc = await get(url, signed_get(newcomer, "lena", url))
            return doc if status == 200 else None

        community = await lemmy_fetch(world.group_url)
        assert community is not None
        # Secure mode: only the signed reads below are served.
        for url in (community["outbox"], community["featured"]):
            assert (await get(url, AS_JSON))[0] == 401, url

        # The outbox's head: the latest posts as Announce{Create{Page}}; the Mastodon
        # status, the poll and the comment are no posts to Lemmy.
        outbox = await lemmy_fetch(community["outbox"])
        assert outbox is not None
        posts = lemmy_outbox_posts(outbox, community)
        assert [p["id"] for p in posts] == [patterns.ap_id, welcome.ap_id]
        assert [p["name"] for p in posts] == ["Left-hand patterns", "Welcome"]

        # featured: every item a Page Lemmy parses (one that is not would void them all),
        # then each fetched from its author's server and pinned there.
        featured = await lemmy_fetch(community["featured"])
        assert featured is not None
        assert [i["id"] for i in featured["orderedItems"]] == [welcome.ap_id, stride.ap_id]
        assert featured["totalItems"] == 2
        pinned = await lemmy_featured_posts(featured, community, lemmy_fetch)
        assert [p["id"] for p in pinned] == [welcome.ap_id, stride.ap_id]
        assert pinned[0]["name"] == "Welcome" and pinned[1]["content"] == "<p>who plays stride?</p>"

        # The thread of alice's status, from the context its Announce carries: its posts,
        # oldest first, each fetched from its author's server.
        announce = next(
            a for a in outbox["orderedItems"] if a["object"]["object"]["id"] == stride.ap_id
        )
        assert (await get(announce["context"], AS_JSON))[0] == 401
        thread = await lemmy_fetch(announce["context"])
        assert thread is not None and thread["type"] == "OrderedCollection"
        assert thread["attributedTo"] == world.group_url and thread["totalItems"] == 2
        items, url = [], thread["first"]
        while url:
            page = await lemmy_fetch(url)
            assert page is not None
            items += page["orderedItems"]
            url = page.get("next")
        assert items == [stride.ap_id, answer.ap_id]
        reply = await lemmy_fetch(answer.ap_id)
        assert reply is not None and reply["inReplyTo"] == stride.ap_id
        assert lemmy_page_refusal(reply) == "inReplyTo: a comment, not a post"
    finally:
        await newcomer.close()


async def test_a_pinned_post_is_listed_in_the_shape_lemmy_parses(world: World):
    """What a pinned post carries that Lemmy's Page would refuse stays out of the item (the
    post is fetched whole from its origin): a second author, an attachment in a shape it
    does not know (an Audio; Pleroma's list of Links as `url` is reduced to one URL), a
    `context` that is an object, private addressees. The post is still listed."""
    origin = world.alice.url(f"/users/alice/statuses/{uuid.uuid4().int % 10**9}")
    post = await post_to_group(
        world.server, world.alice, "alice", GROUP, "<p>recording</p>",
        attachment=[
            {"type": "Audio", "url": origin + "/take.ogg", "mediaType": "audio/ogg"},
            {"type": "Document", "mediaType": "image/png", "name": "score",
             "url": [{"type": "Link", "href": origin + "/score.png", "mediaType": "image/png"}]},
        ],
        context={"type": "Collection", "id": origin + "/context"},
        bcc=[world.alice.actor_url("alice") + "/followers"],
        published="2026-11-23T10:00:00.123+01:00",
    )
    await pin(world, post)
    url = world.group_url + "/featured"
    status, featured = await get(url, signed_get(world.lemmy, "bob", url))
    assert status == 200
    item = next(i for i in featured["orderedItems"] if i["id"] == post.ap_id)
    assert lemmy_page_refusal(item) is None
    assert item["attributedTo"] == world.alice.actor_url("alice")
    assert item["attachment"] == [
        {"type": "Document", "url": origin + "/score.png", "mediaType": "image/png",
         "name": "score"}
    ]
    assert "context" not in item and "bcc" not in item
    assert item["published"] == "2026-11-23T09:00:00.123000Z"


async def test_lemmys_own_featured_collection_passes_the_model(conformance_corpus: Corpus):
    """The model of Lemmy's Page parser takes what Lemmy itself serves (and refuses its
    comment), so the assertions above hold against Lemmy's rules, not ours."""
    featured = conformance_corpus.load("lemmy/collections/group_featured_posts.json")
    assert [lemmy_page_refusal(item) for item in featured["orderedItems"]] == [None, None]
    assert lemmy_page_refusal(conformance_corpus.load("lemmy/objects/page.json")) is None
    comment = conformance_corpus.load("lemmy/objects/comment.json")
    assert lemmy_page_refusal(comment) is not None
