"""Threads a new member can read, late and out-of-order activity, polls and events, end to end.

One fedgroup server on a real SQLite file and fake instances on their own loopback addresses:
Mastodon-like servers (alice and carol are members, dave is not), a Lemmy-like server (bob, a
member: it shows what the group wraps, FEP-1b12), a Mobilizon-like server (orga organizes,
mia answers) and a Friendica-like one (fritz). Every delivery's signature is checked by the
fake that receives it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import icalendar
import pytest
import pytest_asyncio

from fedgroup.activitypub.vocab import PUBLIC
from fedgroup.pipeline.inbound import process_one
from fedgroup.storage.models import Activity, ActivityState, StoredObject
from tests.fakes import FakeInstance
from tests.fakes.forwarding import signer_of, verify_forwarded
from tests.fakes.members import join, post_to_group, start_remote, wait_handled
from tests.fakes.sender import post_signed
from tests.fakes.server import FedgroupServer
from tests.fakes.software import lemmy_outbox_posts

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = "jazz"
ACCEPT = {"Accept": "application/activity+json"}
WAIT = 10.0


@dataclass
class World:
    server: FedgroupServer
    alice: FakeInstance  # Mastodon-like, alice is a member
    dave: FakeInstance  # Mastodon-like, dave is not a member
    carol: FakeInstance  # Mastodon-like, carol is a member
    lemmy: FakeInstance  # Lemmy-like, bob is a member
    mobilizon: FakeInstance  # orga and mia are members
    friendica: FakeInstance  # fritz is a member

    @property
    def group_url(self) -> str:
        return self.server.group_url(GROUP)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with FedgroupServer(tmp_path_factory.mktemp("threads")) as server:
        await server.create_group(GROUP)
        remotes = [
            await start_remote("mastodon", "alice"),
            await start_remote("mastodon", "dave"),
            await start_remote("mastodon", "carol"),
            await start_remote("lemmy", "bob"),
            await start_remote("mobilizon", "orga", "mia"),
            await start_remote("friendica", "fritz"),
        ]
        for remote in remotes:
            remote.verify = verify_forwarded  # members' own activities, and forwarded ones
        try:
            shared = World(server, *remotes)
            for remote, name in [
                (shared.alice, "alice"),
                (shared.carol, "carol"),
                (shared.lemmy, "bob"),
                (shared.mobilizon, "orga"),
                (shared.mobilizon, "mia"),
                (shared.friendica, "fritz"),
            ]:
                await join(server, remote, name, GROUP)
            yield shared
        finally:
            for remote in remotes:
                await remote.close()


# -- helpers ---------------------------------------------------------------------------------


def serve(remote: FakeInstance, document: dict[str, Any]) -> None:
    remote.serve(urlsplit(document["id"]).path, document)


async def send(remote: FakeInstance, name: str, server: FedgroupServer, activity: dict) -> None:
    serve(remote, activity)  # fetchable at its id, as forwarded activities are checked
    answer = await post_signed(remote, server.url("/inbox"), activity, actor=name)
    assert answer.status == 202, answer.body


def create_of(remote: FakeInstance, name: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": obj["id"] + "/activity",
        "type": "Create",
        "actor": remote.actor_url(name),
        "to": obj.get("to", []),
        "cc": obj.get("cc", []),
        "object": obj,
    }


def note(remote: FakeInstance, who: str, **fields: Any) -> dict[str, Any]:
    doc = {
        "id": remote.url(f"/users/{who}/statuses/{uuid.uuid4().int % 10**12}"),
        "type": "Note",
        "attributedTo": remote.actor_url(who),
        "to": [PUBLIC],
        "published": "2026-11-23T10:00:00Z",
        **fields,
    }
    serve(remote, doc)
    return doc


def wrapped(inner_id: str):
    def match(post) -> bool:
        body = post.json or {}
        inner = body.get("object")
        return body.get("type") == "Announce" and isinstance(inner, dict) and inner.get(
            "id"
        ) == inner_id

    return match


def mentions(remote: FakeInstance, ap_id: str) -> list:
    return [p for p in remote.received if ap_id in p.body.decode(errors="replace")]


async def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers=headers or ACCEPT) as answer,
    ):
        return answer.status, await answer.json(content_type=None)


async def every_item(collection_url: str) -> list[Any]:
    """Every item of a paged collection, following `first` and `next` as readers do."""
    _, head = await get_json(collection_url)
    items, url = [], head.get("first")
    while url:
        _, page = await get_json(url)
        items += page["orderedItems"]
        url = page.get("next")
    return items


async def three_level_thread(world: World) -> tuple[StoredObject, dict, dict, dict]:
    """alice posts to the group; dave (not a member, his reply never sent to the group)
    answers her; carol answers dave, mentioning only him. Returns the root row, the middle
    note, carol's note and her Create."""
    root = await post_to_group(world.server, world.alice, "alice", GROUP, "<p>stride?</p>")
    middle = note(
        world.dave, "dave", inReplyTo=root.ap_id, cc=[world.alice.actor_url("alice")],
        content="<p>I do, badly</p>", published="2026-11-23T10:05:00Z",
    )
    leaf = note(
        world.carol, "carol", inReplyTo=middle["id"], cc=[world.dave.actor_url("dave")],
        content="<p>@dave same here</p>", published="2026-11-23T10:10:00Z",
        tag=[{"type": "Mention", "href": world.dave.actor_url("dave"), "name": "@dave"}],
    )
    create = create_of(world.carol, "carol", leaf)
    await send(world.carol, "carol", world.server, create)
    await world.lemmy.wait_for(wrapped(create["id"]), timeout=WAIT)
    return root, middle, leaf, create


# -- threads ---------------------------------------------------------------------------------


async def test_a_reply_to_a_reply_joins_the_thread_through_its_fetched_middle(world: World):
    root, middle, leaf, create = await three_level_thread(world)
    thread = f"{world.group_url}/threads/{root.id}"

    announce = await world.lemmy.wait_for(wrapped(create["id"]), timeout=WAIT)
    assert announce.verified is True
    assert announce.json["context"] == thread, "announced under the thread's context"
    boost = await world.alice.wait_for(
        lambda p: (p.json or {}).get("object") == leaf["id"], timeout=WAIT
    )
    assert boost.json["context"] == thread

    rows = {r.ap_id: r for r in await StoredObject.filter(thread_id=root.id)}
    assert set(rows) == {root.ap_id, middle["id"], leaf["id"]}
    assert rows[middle["id"]].attributed_to == world.dave.actor_url("dave")
    middle_path = urlsplit(middle["id"]).path
    assert [r.path_qs for r in world.dave.requests if r.path_qs == middle_path] == [middle_path]
    # dave never posted to the group: his reply is part of the thread, not announced.
    await asyncio.sleep(0.3)
    for remote in (world.lemmy, world.carol, world.alice):
        assert not [
            p for p in mentions(remote, middle["id"])
            if (p.json or {}).get("object") in (middle["id"], create_of(world.dave, "dave", middle))
        ]
    assert not await Activity.exists(inbound=False, object_id=middle["id"])

    assert await every_item(thread) == [root.ap_id, middle["id"], leaf["id"]]


async def test_a_new_members_server_reads_the_thread_and_the_replies(world: World):
    root, middle, leaf, _ = await three_level_thread(world)
    # The new member's server starts where Lemmy and Mastodon do: the group's outbox.
    _, outbox = await get_json(world.group_url + "/outbox")
    announce = next(i for i in outbox["orderedItems"] if i["object"]["object"]["id"] == root.ap_id)
    status, thread = await get_json(announce["context"])
    assert status == 200 and thread["type"] == "OrderedCollection"
    assert thread["attributedTo"] == world.group_url and thread["totalItems"] == 3
    posts = {}
    for item in await every_item(announce["context"]):
        status, doc = await get_json(item)  # each from its author's own server
        assert status == 200 and doc["id"] == item
        posts[item] = doc
    assert posts[leaf["id"]]["inReplyTo"] == middle["id"]
    assert posts[middle["id"]]["inReplyTo"] == root.ap_id

    middle_row = await StoredObject.get(ap_id=middle["id"])
    replies_of = f"{world.group_url}/posts/{root.id}/replies"
    assert await every_item(replies_of) == [middle["id"]]
    _, head = await get_json(replies_of)
    assert head["context"] == announce["context"]
    assert await every_item(f"{world.group_url}/posts/{middle_row.id}/replies") == [leaf["id"]]


async def test_thread_budget_stops_at_a_parent_that_is_gone(world: World):
    """A reply whose parent its origin no longer serves belongs to no thread here: it is
    announced only if it names the group, and then starts a thread of its own."""
    orphan = note(
        world.carol, "carol", inReplyTo=world.dave.url("/users/dave/statuses/gone"),
        content="<p>hm</p>", cc=[world.group_url],
        tag=[{"type": "Mention", "href": world.group_url, "name": "@jazz"}],
    )
    create = create_of(world.carol, "carol", orphan)
    await send(world.carol, "carol", world.server, create)
    await world.lemmy.wait_for(wrapped(create["id"]), timeout=WAIT)
    row = await StoredObject.get(ap_id=orphan["id"])
    assert row.thread_id == row.id

    stray = note(world.carol, "carol", inReplyTo=world.dave.url("/users/dave/statuses/gone2"))
    stray_create = create_of(world.carol, "carol", stray)
    await send(world.carol, "carol", world.server, stray_create)
    handled = await wait_handled(stray_create["id"])
    assert handled.error == "ignored: not addressed to a group here"


async def test_a_strangers_reply_costs_no_fetch_of_its_ancestors(world: World):
    """Only members' posts make the group fetch missing parents from other servers."""
    parent_path = f"/users/carol/statuses/unknown{uuid.uuid4().hex}"
    stray = note(world.dave, "dave", inReplyTo=world.carol.url(parent_path))
    create = create_of(world.dave, "dave", stray)
    await send(world.dave, "dave", world.server, create)
    await wait_handled(create["id"])
    assert not [r for r in world.carol.requests if r.path_qs == parent_path]


# -- backfill --------------------------------------------------------------------------------


async def test_a_newly_following_lemmy_reads_the_latest_posts_from_the_outbox(world: World):
    group_doc = (await get_json(world.group_url))[1]

    def page(title: str, content: str, **fields: Any) -> dict[str, Any]:
        doc = {
            "id": world.lemmy.url(f"/post/{uuid.uuid4().int % 10**9}"),
            "type": "Page",
            "attributedTo": world.lemmy.actor_url("bob"),
            "to": [world.group_url, PUBLIC],
            "audience": world.group_url,
            "name": title,
            "content": content,
            "mediaType": "text/html",
            "published": "2026-11-24T09:00:00Z",
            **fields,
        }
        serve(world.lemmy, doc)
        return doc

    async def lemmy_sends(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        activity = {
            "id": world.lemmy.url(f"/activities/{kind.lower()}/{uuid.uuid4()}"),
            "type": kind,
            "actor": world.lemmy.actor_url("bob"),
            "to": [PUBLIC],
            "cc": [world.group_url],
            "audience": world.group_url,
            "object": obj,
        }
        await send(world.lemmy, "bob", world.server, activity)
        await wait_handled(activity["id"])
        return activity

    kept = page("Left-hand patterns", "<p>tenths</p>")
    edited = page("Stride tempo", "<p>slow</p>")
    gone = page("Spam", "<p>buy</p>")
    for post in (kept, edited, gone):
        await lemmy_sends("Create", post)
    await lemmy_sends("Update", {**edited, "content": "<p>slow first</p>",
                                 "updated": "2026-11-24T10:00:00Z"})
    await lemmy_sends("Delete", gone["id"])
    await lemmy_sends("Create", {**page("reply", "<p>x</p>"), "inReplyTo": kept["id"]})

    # What Lemmy does on following a community: one GET of the outbox, the head only.
    _, outbox = await get_json(world.group_url + "/outbox")
    posts = lemmy_outbox_posts(outbox, group_doc)
    titles = [p["name"] for p in posts]
    assert titles[:2] == ["Stride tempo", "Left-hand patterns"], titles
    assert "Spam" not in titles and "reply" not in titles
    assert posts[0]["content"] == "<p>slow first</p>", "the edited version"


# -- out of order ----------------------------------------------------------------------------


async def test_a_delete_before_its_create_drops_the_late_create(world: World):
    post = note(world.alice, "alice", content="<p>oops</p>", cc=[world.group_url],
                tag=[{"type": "Mention", "href": world.group_url, "name": "@jazz"}])
    delete = {
        "id": post["id"] + "#delete", "type": "Delete", "actor": world.alice.actor_url("alice"),
        "to": [PUBLIC], "object": {"id": post["id"], "type": "Tombstone"},
    }
    await send(world.alice, "alice", world.server, delete)
    await wait_handled(delete["id"])
    create = create_of(world.alice, "alice", post)
    await send(world.alice, "alice", world.server, create)
    row = await wait_handled(create["id"])
    assert row.error == f"ignored: {post['id']} was deleted"
    await asyncio.sleep(0.3)
    assert not mentions(world.lemmy, post["id"])


async def test_a_delete_from_another_origin_leaves_no_tombstone(world: World):
    """Only the object's own origin may tombstone it: dave's server cannot pre-delete
    carol's next post, whether by its id or with an embedded copy."""
    post = note(world.carol, "carol", content="<p>mine</p>", cc=[world.group_url],
                tag=[{"type": "Mention", "href": world.group_url, "name": "@jazz"}])
    for n, target in enumerate([post["id"], {"id": post["id"], "type": "Tombstone"}]):
        forged = {
            "id": world.dave.url(f"/deletes/{n}{uuid.uuid4().hex}"), "type": "Delete",
            "actor": world.dave.actor_url("dave"), "to": [PUBLIC], "object": target,
        }
        await send(world.dave, "dave", world.server, forged)
        await wait_handled(forged["id"])
    create = create_of(world.carol, "carol", post)
    await send(world.carol, "carol", world.server, create)
    await world.lemmy.wait_for(wrapped(create["id"]), timeout=WAIT)


async def test_an_older_update_after_a_newer_one_is_dropped(world: World):
    row = await post_to_group(world.server, world.alice, "alice", GROUP, "<p>v1</p>")
    original = row.document

    def update(content: str, updated: str) -> dict[str, Any]:
        obj = {**original, "content": content, "updated": updated}
        return {
            "id": world.alice.url(f"/updates/{uuid.uuid4()}"), "type": "Update",
            "actor": world.alice.actor_url("alice"), "to": [PUBLIC], "object": obj,
        }

    newer = update("<p>v3</p>", "2026-11-23T12:00:00Z")
    older = update("<p>v2</p>", "2026-11-23T11:00:00Z")
    await send(world.alice, "alice", world.server, newer)
    await world.lemmy.wait_for(wrapped(newer["id"]), timeout=WAIT)
    await send(world.alice, "alice", world.server, older)
    handled = await wait_handled(older["id"])
    assert "not newer than the version held" in (handled.error or "")
    assert (await StoredObject.get(id=row.id)).content_html == "<p>v3</p>"
    await asyncio.sleep(0.3)
    assert not [p for p in world.lemmy.received if wrapped(older["id"])(p)]
    # The same edit again (a retry) changes nothing and announces nothing new.
    await send(world.alice, "alice", world.server, {**newer, "id": newer["id"] + "-again"})
    await wait_handled(newer["id"] + "-again")
    assert (await StoredObject.get(id=row.id)).content_html == "<p>v3</p>"


async def test_a_like_before_its_post_is_passed_on_when_the_post_arrives(world: World):
    post = note(world.alice, "alice", content="<p>late</p>", cc=[world.group_url],
                tag=[{"type": "Mention", "href": world.group_url, "name": "@jazz"}])
    like = {
        "id": world.lemmy.url(f"/activities/like/{uuid.uuid4()}"), "type": "Like",
        "actor": world.lemmy.actor_url("bob"), "object": post["id"],
        "audience": world.group_url,
    }
    await send(world.lemmy, "bob", world.server, like)
    async with asyncio.timeout(WAIT):
        row = await Activity.get(ap_id=like["id"])
        while not row.error:
            await asyncio.sleep(0.02)
            row = await Activity.get(ap_id=like["id"])
    assert row.state == ActivityState.RECEIVED and row.error.startswith("waiting: ")
    await send(world.alice, "alice", world.server, create_of(world.alice, "alice", post))
    announce = await world.lemmy.wait_for(wrapped(like["id"]), timeout=WAIT)
    assert announce.verified is True
    assert (await wait_handled(like["id"])).error is None


async def test_a_like_whose_post_never_comes_is_dropped_after_the_wait(world: World):
    like = {
        "id": world.lemmy.url(f"/activities/like/{uuid.uuid4()}"), "type": "Like",
        "actor": world.lemmy.actor_url("bob"), "object": world.alice.url("/never"),
    }
    # Stored as the inbox stores it, but not due: this test runs it, as of two hours later.
    row = await Activity.create(
        ap_id=like["id"], type="Like", actor=like["actor"], object_id=like["object"],
        inbound=True, payload=like, process_after=datetime.now(UTC) + timedelta(days=1),
    )
    await Activity.filter(id=row.id).update(created_at=datetime.now(UTC) - timedelta(hours=2))
    row = await Activity.get(id=row.id)
    runtime = world.server.app
    from fedgroup.app_keys import RUNTIME

    await process_one(world.server.settings, runtime[RUNTIME].fetcher, row)
    row = await Activity.get(id=row.id)
    assert row.state == ActivityState.DONE
    assert row.error.startswith("ignored: gave up waiting: ")


# -- other kinds of posts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "media"),
    [("Audio", ("audio/mpeg", "take.mp3")), ("Document", ("application/pdf", "chart.pdf"))],
)
async def test_audio_and_document_posts_are_announced_like_notes(
    world: World, kind: str, media: tuple[str, str]
):
    """A Funkwhale-style Audio and a Document posted to the group reach every member as a
    post does: wrapped for Lemmy, boosted for Mastodon (which shows them), and listed in
    the group's outbox and its thread."""
    media_type, name = media
    post = note(
        world.alice, "alice", type=kind, name=f"A {kind.lower()}", content="<p>listen</p>",
        cc=[world.group_url],
        tag=[{"type": "Mention", "href": world.group_url, "name": "@jazz"}],
        url=[{"type": "Link", "mediaType": media_type, "href": world.alice.url(f"/{name}")}],
        attachment=[{"type": "Document", "mediaType": media_type,
                     "url": world.alice.url(f"/{name}")}],
    )
    create = create_of(world.alice, "alice", post)
    await send(world.alice, "alice", world.server, create)
    announce = await world.lemmy.wait_for(wrapped(create["id"]), timeout=WAIT)
    assert announce.verified is True and announce.json["object"] == create
    boost = await world.carol.wait_for(
        lambda p: (p.json or {}).get("type") == "Announce"
        and (p.json or {}).get("object") == post["id"],
        timeout=WAIT,
    )
    assert boost.verified is True
    row = await StoredObject.get(ap_id=post["id"])
    assert row.type == kind and row.thread_id == row.id
    assert (await wait_handled(create["id"])).error is None
    _, outbox = await get_json(world.group_url + "/outbox")
    assert announce.json["id"] in [item["id"] for item in outbox["orderedItems"]]
    assert await every_item(f"{world.group_url}/threads/{row.id}") == [post["id"]]


# -- polls -----------------------------------------------------------------------------------


async def test_a_vote_reaches_only_the_polls_author_and_results_are_announced(world: World):
    question = note(
        world.alice, "alice", type="Question", content="<p>Favourite style?</p>",
        cc=[world.group_url],
        tag=[{"type": "Mention", "href": world.group_url, "name": "@jazz"}],
        oneOf=[{"type": "Note", "name": n, "replies": {"type": "Collection", "totalItems": 0}}
               for n in ("Stride", "Bebop")],
        votersCount=0,
    )
    create = create_of(world.alice, "alice", question)
    await send(world.alice, "alice", world.server, create)
    await world.lemmy.wait_for(wrapped(create["id"]), timeout=WAIT)

    vote = note(world.carol, "carol", name="Stride", inReplyTo=question["id"],
                to=[world.alice.actor_url("alice"), world.group_url])
    del vote["published"]
    vote_create = create_of(world.carol, "carol", vote)
    await send(world.carol, "carol", world.server, vote_create)

    passed = await world.alice.wait_for(
        lambda p: (p.json or {}).get("id") == vote_create["id"], timeout=WAIT
    )
    assert passed.path == "/users/alice/inbox", "to the author's own inbox"
    assert passed.verified is True and signer_of(passed) == world.group_url
    assert passed.json == vote_create, "unchanged"
    assert (await wait_handled(vote_create["id"])).error is None
    await asyncio.sleep(0.5)
    for remote in (world.lemmy, world.carol, world.mobilizon, world.friendica):
        assert not mentions(remote, vote["id"]), "a ballot is for the author alone"
    assert not await StoredObject.exists(ap_id=vote["id"])

    results = {**question, "votersCount": 1,
               "oneOf": [{"type": "Note", "name": "Stride",
                          "replies": {"type": "Collection", "totalItems": 1}},
                         question["oneOf"][1]]}
    update = {"id": world.alice.url(f"/updates/{uuid.uuid4()}"), "type": "Update",
              "actor": world.alice.actor_url("alice"), "to": [PUBLIC], "object": results}
    await send(world.alice, "alice", world.server, update)
    await world.lemmy.wait_for(wrapped(update["id"]), timeout=WAIT)
    stale = {**update, "id": update["id"] + "-stale", "object": question}
    await send(world.alice, "alice", world.server, stale)
    assert "not newer" in ((await wait_handled(stale["id"])).error or "")


# -- events ----------------------------------------------------------------------------------


def mobilizon_event(world: World, starts: datetime, **fields: Any) -> dict[str, Any]:
    uid = uuid.uuid4()
    doc = {
        "id": world.mobilizon.url(f"/events/{uid}"),
        "type": "Event",
        "actor": world.mobilizon.actor_url("orga"),
        "attributedTo": world.mobilizon.actor_url("orga"),
        "name": "Stride night, Nantes",
        "content": "<p>Bring music; the piano is tuned.</p>",
        "startTime": starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endTime": (starts + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timezone": "Europe/Paris",
        "joinMode": "free",
        "ical:status": "CONFIRMED",
        "location": {
            "type": "Place",
            "name": "Le Lieu Unique",
            "address": {"type": "PostalAddress", "streetAddress": "2 rue de la Biscuiterie",
                        "postalCode": "44000", "addressLocality": "Nantes",
                        "addressCountry": "France"},
        },
        "to": [PUBLIC],
        "cc": [world.group_url],
        "tag": [{"type": "Mention", "href": world.group_url, "name": "@jazz"}],
        "published": "2026-11-20T10:00:00Z",
        "url": world.mobilizon.url(f"/events/{uid}"),
        "uuid": str(uid),
        **fields,
    }
    serve(world.mobilizon, doc)
    return doc


async def test_an_event_with_two_rsvps_and_its_calendar(world: World):
    starts = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    event = mobilizon_event(world, starts)
    create = create_of(world.mobilizon, "orga", event)
    await send(world.mobilizon, "orga", world.server, create)
    await world.lemmy.wait_for(wrapped(create["id"]), timeout=WAIT)

    join_ = {"id": world.mobilizon.url(f"/join/{uuid.uuid4()}"), "type": "Join",
             "actor": world.mobilizon.actor_url("mia"), "object": event["id"],
             "to": [world.group_url]}
    accept = {"id": world.friendica.url(f"/objects/{uuid.uuid4()}"), "type": "Accept",
              "actor": world.friendica.actor_url("fritz"), "object": event["id"],
              "to": [world.mobilizon.actor_url("orga"), world.group_url]}
    await send(world.mobilizon, "mia", world.server, join_)
    await send(world.friendica, "fritz", world.server, accept)
    for rsvp in (join_, accept):
        got = await world.mobilizon.wait_for(
            lambda p, r=rsvp: (p.json or {}).get("id") == r["id"], timeout=WAIT
        )
        assert got.path == "/users/orga/inbox" and got.verified is True
        assert signer_of(got) == world.group_url and got.json == rsvp
    await asyncio.sleep(0.3)
    for remote in (world.lemmy, world.alice, world.friendica):
        assert not mentions(remote, join_["id"]) and not mentions(remote, accept["id"])

    # A Gancio-shaped one (local time with offset, no end), and one already over.
    gancio = mobilizon_event(
        world, starts, name="Jam, Bologna", startTime=(starts + timedelta(days=1)).strftime(
            "%Y-%m-%dT20:00:00+01:00"), endTime=None,
        location={"name": "Circolo", "address": "Via Roma 1, Bologna"},
    )
    past = mobilizon_event(world, datetime.now(UTC) - timedelta(days=3), name="Last week")
    for other in (gancio, past):
        other_create = create_of(world.mobilizon, "orga", other)
        await send(world.mobilizon, "orga", world.server, other_create)
        await world.lemmy.wait_for(wrapped(other_create["id"]), timeout=WAIT)

    _, collection = await get_json(world.group_url + "/events")
    assert event["id"] in collection["orderedItems"] and gancio["id"] in collection["orderedItems"]
    assert past["id"] not in collection["orderedItems"]
    assert collection["orderedItems"].index(event["id"]) < collection["orderedItems"].index(
        gancio["id"]
    )

    async with aiohttp.ClientSession() as session, session.get(
        world.group_url + "/events.ics"
    ) as answer:
        assert answer.status == 200 and answer.content_type == "text/calendar"
        feed = icalendar.Calendar.from_ical(await answer.read())
    events = {str(e["UID"]): e for e in feed.walk("VEVENT")}
    assert past["id"] not in events
    ours = events[event["id"]]
    assert str(ours["SUMMARY"]) == "Stride night, Nantes"
    assert ours.decoded("DTSTART") == starts
    assert ours.decoded("DTEND") == starts + timedelta(hours=3)
    assert "Le Lieu Unique" in str(ours["LOCATION"]) and "Nantes" in str(ours["LOCATION"])
    assert "the piano is tuned" in str(ours["DESCRIPTION"])
    jam = events[gancio["id"]]
    assert jam.decoded("DTSTART").astimezone(UTC).hour == 19
    assert "DTEND" not in jam and str(jam["LOCATION"]) == "Circolo, Via Roma 1, Bologna"

    # The group's page lists them too, with the calendar link.
    async with aiohttp.ClientSession() as session, session.get(world.group_url) as page:
        html = await page.text()
    section = html.split('id="events-heading"', 1)[1].split("</section>", 1)[0]
    assert "Upcoming events" in section and "Stride night, Nantes" in section
    assert f"/groups/{GROUP}/events.ics" in section and "Last week" not in section


async def test_a_members_only_group_publishes_no_thread_event_or_calendar(world: World):
    circle = await world.server.create_group("circle", members_only=True)
    await StoredObject.create(
        ap_id=world.alice.url("/users/alice/statuses/secret"), type="Event", group=circle,
        attributed_to=world.alice.actor_url("alice"), document={"to": [PUBLIC]},
        published=datetime.now(UTC), starts_at=datetime.now(UTC) + timedelta(days=1),
    )
    row = await StoredObject.get(ap_id=world.alice.url("/users/alice/statuses/secret"))
    await StoredObject.filter(id=row.id).update(thread_id=row.id)
    base = world.server.group_url("circle")
    for path in (f"/threads/{row.id}", f"/posts/{row.id}/replies", "/events"):
        status, _ = await get_json(base + path)
        assert status == 401, path
    async with aiohttp.ClientSession() as session, session.get(base + "/events.ics") as answer:
        assert answer.status == 404
