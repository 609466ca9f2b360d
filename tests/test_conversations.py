"""Members' posts announced to every member, in the shape each member's software shows.

Three fake servers on distinct loopback addresses: the author's Mastodon, a Mastodon with a
member (it only shows a boost of a status it can fetch as public), and a Lemmy with a member
(it reads the activity embedded in the group's Announce). Every delivery's signature is
verified by the receiving fake.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fedgroup.activitypub import ldsig
from fedgroup.activitypub.keys import load_public_pem
from fedgroup.activitypub.vocab import PUBLIC
from fedgroup.storage.models import Activity, Group, StoredObject
from tests.fakes import FakeInstance
from tests.fakes.members import join, start_remote
from tests.fakes.sender import post_signed, signed_get
from tests.fakes.server import FedgroupServer
from tests.fakes.software import lemmy_inner, mastodon_boost_of, mentions_public


def mastodon_mention(author: FakeInstance, server: FedgroupServer, group: str, **extra: Any):
    """A Mastodon status mentioning the group, served by the author's server."""
    status_id = author.url(f"/users/alice/statuses/{uuid.uuid4().int % 10**12}")
    note = {
        "id": status_id,
        "type": "Note",
        "attributedTo": author.actor_url("alice"),
        "to": [PUBLIC],
        "cc": [author.actor_url("alice") + "/followers", server.group_url(group)],
        "content": f'<p><span class="h-card"><a href="{server.group_url(group)}">@{group}</a>'
        "</span> who plays stride piano?</p><script>alert(1)</script>",
        "tag": [{"type": "Mention", "href": server.group_url(group), "name": f"@{group}"}],
        "published": "2026-11-23T10:00:00Z",
        **extra,
    }
    author.serve(status_id.removeprefix(author.base_url), {"@context": [], **note})
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": status_id + "/activity",
        "type": "Create",
        "actor": author.actor_url("alice"),
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    }


@pytest.fixture
async def world(tmp_path: Path):
    async with FedgroupServer(tmp_path) as server:
        await server.create_group("jazz")
        await server.create_group("circle", members_only=True)
        author = await start_remote("mastodon", "alice", "mallory")
        masto = await start_remote("mastodon", "carol")
        lemmy = await start_remote("lemmy", "bob")
        try:
            for group in ("jazz", "circle"):
                await join(server, author, "alice", group)
                await join(server, masto, "carol", group)
                await join(server, lemmy, "bob", group)
            yield server, author, masto, lemmy
        finally:
            for remote in (author, masto, lemmy):
                await remote.close()


def announce_of(post, inner_id: str | None = None, object_id: str | None = None) -> bool:
    body = post.json or {}
    if body.get("type") != "Announce":
        return False
    inner = body.get("object")
    if inner_id is not None:
        return isinstance(inner, dict) and inner.get("id") == inner_id
    return inner == object_id


async def test_mastodon_mention_reaches_lemmy_wrapped_and_mastodon_as_boost(world):
    server, author, masto, lemmy = world
    create = mastodon_mention(author, server, "jazz")
    assert (await post_signed(author, server.url("/inbox"), create)).status == 202

    wrapped = await lemmy.wait_for(lambda p: announce_of(p, inner_id=create["id"]), timeout=10)
    assert wrapped.verified is True and wrapped.path == "/inbox"
    inner = lemmy_inner(wrapped, server.group_url("jazz"))
    assert inner == create, "the member's activity must be embedded unchanged"
    assert wrapped.json["audience"] == server.group_url("jazz")
    assert PUBLIC in wrapped.json["to"]
    assert wrapped.json["cc"] == [server.group_url("jazz") + "/followers"]
    # Signed in the document too, so a receiving server could forward it.
    group = await Group.get(name="jazz")
    assert ldsig.verify_document(wrapped.json, load_public_pem(group.public_key_pem))

    boost = await masto.wait_for(lambda p: announce_of(p, object_id=create["object"]["id"]), 10)
    assert boost.verified is True
    status = await mastodon_boost_of(boost)
    assert status is not None and status["id"] == create["object"]["id"]
    # Never two shapes to one server.
    assert not [p for p in masto.received if announce_of(p, inner_id=create["id"])]
    assert not [p for p in lemmy.received if announce_of(p, object_id=create["object"]["id"])]

    stored = await StoredObject.get(ap_id=create["object"]["id"])
    assert "<script>" not in stored.content_html and "stride piano" in stored.content_html
    assert "<script>" in stored.document["content"], "the original is kept as received"


async def test_lemmy_page_with_audience_reaches_both_shapes(world):
    server, author, masto, lemmy = world
    post_id = lemmy.url(f"/post/{uuid.uuid4().int % 10**6}")
    page = {
        "type": "Page",
        "id": post_id,
        "attributedTo": lemmy.actor_url("bob"),
        "to": [server.group_url("jazz"), PUBLIC],
        "audience": server.group_url("jazz"),
        "name": "Practising left-hand stride",
        "content": "<p>ten minutes a day</p>",
        "mediaType": "text/html",
        "published": "2026-11-23T10:00:00Z",
    }
    lemmy.serve(post_id.removeprefix(lemmy.base_url), page)
    create = {
        "id": lemmy.url(f"/activities/create/{uuid.uuid4()}"),
        "type": "Create",
        "actor": lemmy.actor_url("bob"),
        "to": [PUBLIC],
        "cc": [server.group_url("jazz")],
        "audience": server.group_url("jazz"),
        "object": page,
    }
    assert (await post_signed(lemmy, server.url("/inbox"), create, actor="bob")).status == 202
    wrapped = await lemmy.wait_for(lambda p: announce_of(p, inner_id=create["id"]), timeout=10)
    assert lemmy_inner(wrapped, server.group_url("jazz")) == create
    boost = await masto.wait_for(lambda p: announce_of(p, object_id=post_id), timeout=10)
    assert (await mastodon_boost_of(boost))["name"] == "Practising left-hand stride"


async def test_non_member_is_refused_quietly(world):
    server, author, masto, lemmy = world
    create = mastodon_mention(author, server, "jazz")
    create["actor"] = author.actor_url("mallory")
    create["object"]["attributedTo"] = author.actor_url("mallory")
    assert (await post_signed(author, server.url("/inbox"), create, actor="mallory")).status == 202
    row = await wait_handled(create["id"])
    assert "not a member" in (row.error or "")
    await asyncio.sleep(0.5)
    for remote in (masto, lemmy):
        assert not [p for p in remote.received if (p.json or {}).get("type") == "Announce"]


async def wait_handled(ap_id: str) -> Activity:
    async with asyncio.timeout(10):
        while True:
            row = await Activity.get_or_none(ap_id=ap_id)
            if row is not None and row.state != "received":
                return row
            await asyncio.sleep(0.05)


async def test_members_only_group_never_addresses_public(world):
    server, author, masto, lemmy = world
    create = mastodon_mention(author, server, "circle")
    # A members-only post: to the group's followers, no Public.
    for doc in (create, create["object"]):
        doc["to"] = [server.group_url("circle") + "/followers"]
        doc["cc"] = [server.group_url("circle")]
    assert (await post_signed(author, server.url("/inbox"), create)).status == 202

    wrapped = await lemmy.wait_for(lambda p: announce_of(p, inner_id=create["id"]), timeout=10)
    group_note = await masto.wait_for(
        lambda p: (
            (p.json or {}).get("type") == "Create"
            and (p.json or {}).get("actor") == server.group_url("circle")
        ),
        timeout=10,
    )
    for post in (wrapped, group_note):
        assert post.verified is True
        assert not mentions_public(post.json), post.json
    note = group_note.json["object"]
    assert note["attributedTo"] == server.group_url("circle")
    assert note["to"] == [server.group_url("circle") + "/followers"]
    assert (
        author.actor_url("alice") in note["content"] and create["object"]["id"] in note["content"]
    )
    assert "<script>" not in note["content"]

    # The member list is never published, and the content goes only to members' servers.
    async with aiohttp.ClientSession() as session:
        async with session.get(
            server.group_url("circle") + "/followers",
            headers={"Accept": "application/activity+json"},
        ) as answer:
            followers = await answer.json(content_type=None)
        assert "orderedItems" not in followers and "first" not in followers
        accept = {"Accept": "application/activity+json"}
        async with session.get(note["id"], headers=accept) as unsigned:
            assert unsigned.status == 401
        signed = signed_get(masto, "carol", note["id"])
        async with session.get(note["id"], headers=signed) as member_fetch:
            assert member_fetch.status == 200
            assert (await member_fetch.json(content_type=None))["id"] == note["id"]
        async with FakeInstance() as stranger:
            stranger.add_actor("eve")
            foreign = signed_get(stranger, "eve", note["id"])
            async with session.get(note["id"], headers=foreign) as stranger_fetch:
                assert stranger_fetch.status == 403
        async with session.get(
            server.group_url("circle") + "/outbox?page=1", headers=accept
        ) as box:
            assert not mentions_public(await box.json(content_type=None))


async def test_public_outbox_lists_announces_newest_first_and_each_is_fetchable(world):
    server, author, masto, lemmy = world
    first = mastodon_mention(author, server, "jazz")
    second = mastodon_mention(author, server, "jazz")
    for create in (first, second):
        await post_signed(author, server.url("/inbox"), create)
        await lemmy.wait_for(lambda p, c=create: announce_of(p, inner_id=c["id"]), timeout=10)
    accept = {"Accept": "application/activity+json"}
    async with aiohttp.ClientSession() as session:
        async with session.get(server.group_url("jazz") + "/outbox", headers=accept) as answer:
            head = await answer.json(content_type=None)
        assert head["totalItems"] == 2 and head["first"].endswith("?page=1")
        async with session.get(head["first"], headers=accept) as answer:
            page = await answer.json(content_type=None)
        assert page["type"] == "OrderedCollectionPage"
        inner_ids = [item["object"]["id"] for item in page["orderedItems"]]
        assert inner_ids == [second["id"], first["id"]]
        async with session.get(page["orderedItems"][0]["id"], headers=accept) as answer:
            assert answer.status == 200
            assert (await answer.json(content_type=None))["object"]["id"] == second["id"]


async def test_reply_to_an_announced_post_is_announced(world):
    server, author, masto, lemmy = world
    create = mastodon_mention(author, server, "jazz")
    await post_signed(author, server.url("/inbox"), create)
    await lemmy.wait_for(lambda p: announce_of(p, inner_id=create["id"]), timeout=10)
    reply_id = masto.url(f"/users/carol/statuses/{uuid.uuid4().int % 10**9}")
    reply_note = {
        "id": reply_id,
        "type": "Note",
        "attributedTo": masto.actor_url("carol"),
        "inReplyTo": create["object"]["id"],
        "to": [PUBLIC],
        "cc": [author.actor_url("alice")],
        "content": "<p>me! since last spring</p>",
    }
    masto.serve(reply_id.removeprefix(masto.base_url), reply_note)
    reply = {
        "id": reply_id + "/activity",
        "type": "Create",
        "actor": masto.actor_url("carol"),
        "to": [PUBLIC],
        "cc": [author.actor_url("alice")],
        "object": reply_note,
    }
    assert (await post_signed(masto, server.url("/inbox"), reply, actor="carol")).status == 202
    await lemmy.wait_for(lambda p: announce_of(p, inner_id=reply["id"]), timeout=10)
    await masto.wait_for(lambda p: announce_of(p, object_id=reply_id), timeout=10)


async def test_author_delete_withdraws_the_post_in_each_shape(world):
    server, author, masto, lemmy = world
    create = mastodon_mention(author, server, "jazz")
    await post_signed(author, server.url("/inbox"), create)
    boost = await masto.wait_for(lambda p: announce_of(p, object_id=create["object"]["id"]), 10)
    delete = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": create["object"]["id"] + "#delete",
        "type": "Delete",
        "actor": author.actor_url("alice"),
        "to": [PUBLIC],
        "object": {"id": create["object"]["id"], "type": "Tombstone"},
    }
    assert (await post_signed(author, server.url("/inbox"), delete)).status == 202
    await lemmy.wait_for(lambda p: announce_of(p, inner_id=delete["id"]), timeout=10)
    undo = await masto.wait_for(lambda p: (p.json or {}).get("type") == "Undo", timeout=10)
    assert undo.verified is True and undo.json["object"]["id"] == boost.json["id"]
    assert (await StoredObject.get(ap_id=create["object"]["id"])).deleted


async def test_an_authors_undo_of_their_delete_restores_the_post_in_each_shape(world):
    """Lemmy's "restore": its author undoes the Delete of a post. Lemmy members are passed
    the Undo{Delete} (FEP-1b12) and show the post again. Mastodon members are boosted it
    anew: Mastodon has no Undo{Delete} (its Undo handler knows Follow, Announce, Like,
    Block, Accept), so passing on the Undo would do nothing there, while a boost under a new
    id makes it fetch the status again and show it. Lemmy sent its Delete to the community
    only, so no Mastodon member holds a tombstone of the post that would refuse it; the
    group had undone its boost, and Mastodon remembers an undone boost's id, hence a new id.
    """
    server, author, masto, lemmy = world
    jazz = server.group_url("jazz")
    page = {
        "type": "Page", "id": lemmy.url(f"/post/{uuid.uuid4().int % 10**6}"),
        "attributedTo": lemmy.actor_url("bob"), "to": [jazz, PUBLIC], "audience": jazz,
        "name": "Stride fingering", "content": "<p>thumb under</p>",
        "mediaType": "text/html", "published": "2026-11-23T10:00:00Z",
    }
    lemmy.serve(page["id"].removeprefix(lemmy.base_url), page)

    def lemmy_sends(kind: str, obj: Any) -> dict[str, Any]:
        return {"id": lemmy.url(f"/activities/{kind.lower()}/{uuid.uuid4()}"), "type": kind,
                "actor": lemmy.actor_url("bob"), "to": [PUBLIC], "cc": [jazz],
                "audience": jazz, "object": obj}

    create, delete = lemmy_sends("Create", page), lemmy_sends("Delete", page["id"])
    undo = lemmy_sends("Undo", delete)
    for activity in (create, delete):
        assert (await post_signed(lemmy, server.url("/inbox"), activity, actor="bob")).status == 202
        await lemmy.wait_for(lambda p, a=activity: announce_of(p, inner_id=a["id"]), timeout=10)
    first_boost = await masto.wait_for(lambda p: announce_of(p, object_id=page["id"]), 10)
    await masto.wait_for(lambda p: (p.json or {}).get("type") == "Undo", timeout=10)
    assert (await StoredObject.get(ap_id=page["id"])).content_html == ""

    assert (await post_signed(lemmy, server.url("/inbox"), undo, actor="bob")).status == 202
    wrapped = await lemmy.wait_for(lambda p: announce_of(p, inner_id=undo["id"]), timeout=10)
    assert wrapped.verified is True and lemmy_inner(wrapped, jazz) == undo, "unchanged"
    boost = await masto.wait_for(
        lambda p: announce_of(p, object_id=page["id"]) and p.json["id"] != first_boost.json["id"],
        timeout=10,
    )
    assert boost.verified is True
    assert (await mastodon_boost_of(boost))["name"] == "Stride fingering"
    assert not [p for p in masto.received if announce_of(p, inner_id=undo["id"])]
    row = await StoredObject.get(ap_id=page["id"])
    assert not row.deleted and row.content_html == "<p>thumb under</p>"
    async with aiohttp.ClientSession() as session, session.get(
        jazz + "/outbox", headers={"Accept": "application/activity+json"}
    ) as answer:
        assert create["id"] in str((await answer.json(content_type=None))["orderedItems"])

    # Undone again (a second Undo under another id): nothing left to restore.
    again = {**undo, "id": undo["id"] + "-again"}
    assert (await post_signed(lemmy, server.url("/inbox"), again, actor="bob")).status == 202
    assert (await wait_handled(again["id"])).error == f"ignored: {page['id']} is not deleted"


async def test_only_the_author_undoes_their_delete(world):
    """Someone else's Undo of the author's Delete restores nothing: neither with the
    author's Delete embedded (not theirs to undo) nor with a Delete of their own (a
    removal, which only a moderator undoes)."""
    server, author, masto, lemmy = world
    create = mastodon_mention(author, server, "jazz")
    post_id = create["object"]["id"]
    assert (await post_signed(author, server.url("/inbox"), create)).status == 202
    await lemmy.wait_for(lambda p: announce_of(p, inner_id=create["id"]), timeout=10)
    delete = {"id": post_id + "#delete", "type": "Delete", "actor": author.actor_url("alice"),
              "to": [PUBLIC], "object": post_id}
    assert (await post_signed(author, server.url("/inbox"), delete)).status == 202
    await lemmy.wait_for(lambda p: announce_of(p, inner_id=delete["id"]), timeout=10)
    mallory = author.actor_url("mallory")
    forged = [
        {"id": author.url(f"/undo/{uuid.uuid4()}"), "type": "Undo", "actor": mallory,
         "object": delete},
        {"id": author.url(f"/undo/{uuid.uuid4()}"), "type": "Undo", "actor": mallory,
         "object": {**delete, "id": author.url("/mallorys-delete"), "actor": mallory}},
    ]
    reasons = []
    for undo in forged:
        answer = await post_signed(author, server.url("/inbox"), undo, actor="mallory")
        assert answer.status == 202
        reasons.append((await wait_handled(undo["id"])).error)
    assert reasons == [
        "ignored: Undo of another actor's activity",
        f"ignored: {mallory} is not a moderator of jazz",
    ]
    row = await StoredObject.get(ap_id=post_id)
    assert row.deleted and row.content_html == ""
    await asyncio.sleep(0.3)
    assert not [p for p in lemmy.received for u in forged if announce_of(p, inner_id=u["id"])]


async def test_an_undo_of_a_delete_that_came_before_its_create_lets_the_create_in(world):
    """Delete, then its Undo, both before the Create (out of order): the tombstone the
    Delete left is lifted by its author's Undo, so the late Create is announced."""
    server, author, masto, lemmy = world
    create = mastodon_mention(author, server, "jazz")
    post_id = create["object"]["id"]
    delete = {"id": post_id + "#delete", "type": "Delete", "actor": author.actor_url("alice"),
              "to": [PUBLIC], "object": post_id}
    undo = {"id": post_id + "#undo", "type": "Undo", "actor": author.actor_url("alice"),
            "object": delete}
    for activity in (delete, undo):
        assert (await post_signed(author, server.url("/inbox"), activity)).status == 202
        await wait_handled(activity["id"])
    assert (await wait_handled(undo["id"])).error is None
    assert (await post_signed(author, server.url("/inbox"), create)).status == 202
    await lemmy.wait_for(lambda p: announce_of(p, inner_id=create["id"]), timeout=10)
    assert not (await StoredObject.get(ap_id=post_id)).deleted


async def test_like_goes_to_fep1b12_members_only(world):
    server, author, masto, lemmy = world
    create = mastodon_mention(author, server, "jazz")
    await post_signed(author, server.url("/inbox"), create)
    await lemmy.wait_for(lambda p: announce_of(p, inner_id=create["id"]), timeout=10)
    like = {
        "id": lemmy.url(f"/activities/like/{uuid.uuid4()}"),
        "type": "Like",
        "actor": lemmy.actor_url("bob"),
        "object": create["object"]["id"],
        "audience": server.group_url("jazz"),
    }
    assert (await post_signed(lemmy, server.url("/inbox"), like, actor="bob")).status == 202
    await lemmy.wait_for(lambda p: announce_of(p, inner_id=like["id"]), timeout=10)
    await wait_handled(like["id"])
    await asyncio.sleep(0.3)
    assert not [p for p in masto.received if announce_of(p, inner_id=like["id"])]


async def test_object_by_reference_is_fetched_from_its_origin(world):
    """A Create naming its object by id only: the group fetches it, then announces it."""
    server, author, masto, lemmy = world
    create = mastodon_mention(author, server, "jazz")
    create["object"] = create["object"]["id"]  # served by the author's server
    assert (await post_signed(author, server.url("/inbox"), create)).status == 202
    await lemmy.wait_for(lambda p: announce_of(p, inner_id=create["id"]), timeout=10)
    stored = await StoredObject.get(ap_id=create["object"])
    assert "stride piano" in stored.content_html


async def test_forged_embedded_copy_from_another_origin_is_not_trusted(world):
    """Alice embeds a 'copy' of Carol's status with words Carol never wrote. The group does
    not trust an embedded object from another origin: it fetches the real one from Carol's
    server, sees it is not Alice's, and announces nothing."""
    server, author, masto, lemmy = world
    real_id = masto.url(f"/users/carol/statuses/{uuid.uuid4().int % 10**9}")
    real = {
        "id": real_id,
        "type": "Note",
        "attributedTo": masto.actor_url("carol"),
        "to": [PUBLIC],
        "content": "<p>what carol really wrote</p>",
    }
    masto.serve(real_id.removeprefix(masto.base_url), real)
    forged = {**real, "attributedTo": author.actor_url("alice"), "content": "<p>forged</p>"}
    create = {
        "id": author.url(f"/activities/{uuid.uuid4()}"),
        "type": "Create",
        "actor": author.actor_url("alice"),
        "to": [PUBLIC, server.group_url("jazz")],
        "object": {**forged, "to": [PUBLIC, server.group_url("jazz")]},
    }
    assert (await post_signed(author, server.url("/inbox"), create)).status == 202
    row = await wait_handled(create["id"])
    assert "not to the actor" in (row.error or "")
    assert await StoredObject.get_or_none(ap_id=real_id) is None
    await asyncio.sleep(0.3)
    for remote in (masto, lemmy):
        assert not [p for p in remote.received if announce_of(p, inner_id=create["id"])]


async def test_followers_only_post_in_a_public_group_stays_with_members(world):
    """A member shares a followers-only post with a public group: no boost (Mastodon could
    not show one), no Public anywhere, and nothing of it readable without a member's
    signature — neither the group's quote nor the group's Announce."""
    server, author, masto, lemmy = world
    create = mastodon_mention(author, server, "jazz")
    for doc in (create, create["object"]):
        doc["to"] = [author.actor_url("alice") + "/followers"]
        doc["cc"] = [server.group_url("jazz")]
    assert (await post_signed(author, server.url("/inbox"), create)).status == 202
    wrapped = await lemmy.wait_for(lambda p: announce_of(p, inner_id=create["id"]), timeout=10)
    quote = await masto.wait_for(
        lambda p: (
            (p.json or {}).get("type") == "Create"
            and (p.json or {}).get("actor") == server.group_url("jazz")
        ),
        timeout=10,
    )
    assert not mentions_public(wrapped.json) and not mentions_public(quote.json)
    accept = {"Accept": "application/activity+json"}
    async with aiohttp.ClientSession() as session:
        for url in (wrapped.json["id"], quote.json["object"]["id"]):
            async with session.get(url, headers=accept) as unsigned:
                assert unsigned.status == 401, url
            signed = signed_get(lemmy, "bob", url)
            async with session.get(url, headers=signed) as member_fetch:
                assert member_fetch.status == 200, url
        async with session.get(server.group_url("jazz") + "/outbox?page=1", headers=accept) as box:
            listed = await box.json(content_type=None)
    assert create["id"] not in str(listed)
