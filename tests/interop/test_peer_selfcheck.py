"""The Fedify peer against itself: proof that the interop peer works before fedgroup is in play.

Two peers on different loopback addresses follow, post, unfollow and reject forged requests;
everything either records was verified by Fedify, so a failure here is the peer's, not ours.
"""

from __future__ import annotations

import uuid

import aiohttp

from .conftest import StartPeer
from .peer_harness import FedifyPeer, of_type, resolve_webfinger

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def like_activity(sender: FedifyPeer, target: str) -> dict[str, str]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{sender.actor_url}/activities/{uuid.uuid4()}",
        "type": "Like",
        "actor": sender.actor_url,
        "object": target,
    }


async def test_follow_post_forgery_and_unfollow(start_fedify_peer: StartPeer) -> None:
    alice = await start_fedify_peer("alice", "127.0.0.2")
    bob = await start_fedify_peer("bob", "127.0.0.3")
    bob_actor = await resolve_webfinger(bob.handle)
    assert bob_actor == bob.actor_url

    follow_id = await alice.follow(bob_actor)
    follow = await bob.wait_for_received(of_type("Follow", id=follow_id))
    assert follow["actor"] == alice.actor_url
    assert follow["signature_scheme"] == "rfc9421"
    accept = await alice.wait_for_received(of_type("Accept", actor=bob.actor_url))
    assert accept["object_id"] == follow_id
    assert [f["id"] for f in await bob.followers()] == [alice.actor_url]
    assert (await alice.following())[0]["accepted"] is True

    posted = await bob.post("<p>hello members</p>", to=[PUBLIC], cc=[bob.followers_url])
    create = await alice.wait_for_received(of_type("Create", id=posted.activity_id))
    assert create["actor"] == bob.actor_url
    assert create["object"]["id"] == posted.note_id
    assert create["object"]["content"] == "<p>hello members</p>"
    async with aiohttp.ClientSession() as session:
        headers = {"Accept": "application/activity+json"}
        async with session.get(posted.note_id, headers=headers) as response:
            assert response.status == 200
            assert (await response.json(content_type=None))["id"] == posted.note_id

    announce = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{bob.actor_url}/activities/{uuid.uuid4()}",
        "type": "Announce",
        "actor": bob.actor_url,
        "object": posted.note_id,
        "to": PUBLIC,
    }
    assert (await bob.send_raw(alice.shared_inbox_url, announce)).status == 202
    boosted = await alice.wait_for_received(of_type("Announce", id=announce["id"]))
    assert boosted["object"]["content"] == "<p>hello members</p>"  # fetched by id
    assert boosted["inbox"] == "/inbox"

    forged = like_activity(alice, posted.note_id)
    answer = await alice.send_raw(bob.inbox_url, forged, sign="tamper")
    assert answer.status == 401
    unsigned = like_activity(alice, posted.note_id)
    assert (await alice.send_raw(bob.inbox_url, unsigned, sign="none")).status == 401
    genuine = like_activity(alice, posted.note_id)
    assert (await alice.send_raw(bob.inbox_url, genuine, sign="cavage")).status == 202
    await bob.wait_for_received(of_type("Like", id=genuine["id"]))
    received_ids = {entry["id"] for entry in await bob.received()}
    assert forged["id"] not in received_ids
    assert unsigned["id"] not in received_ids
    refused = {e.get("id") for e in await bob.rejected() if e["kind"] == "inbox-refused"}
    assert {forged["id"], unsigned["id"]} <= refused

    undo_id = await alice.unfollow(bob_actor)
    undo = await bob.wait_for_received(of_type("Undo", id=undo_id))
    assert undo["object_id"] == follow_id
    assert await bob.followers() == []


async def test_cavage_first_knock_lemmy_nodeinfo_and_deleted_note(
    start_fedify_peer: StartPeer,
) -> None:
    carol = await start_fedify_peer("carol", "127.0.0.2", software="lemmy", first_knock="cavage")
    bob = await start_fedify_peer("bob", "127.0.0.3")

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{carol.base_url}/.well-known/nodeinfo") as response:
            link = (await response.json(content_type=None))["links"][0]["href"]
        async with session.get(link) as response:
            assert (await response.json(content_type=None))["software"]["name"] == "lemmy"

    follow_id = await carol.follow(bob.actor_url)
    follow = await bob.wait_for_received(of_type("Follow", id=follow_id))
    assert follow["signature_scheme"] == "cavage"
    await carol.wait_for_received(of_type("Accept", object_id=follow_id))

    posted = await carol.post("a thread", to=[bob.actor_url], name="Title", object_type="Page")
    create = await bob.wait_for_received(of_type("Create", id=posted.activity_id))
    assert create["object"]["type"] == "Page"
    assert create["object"]["name"] == "Title"

    delete_id = await carol.delete(posted.note_id)
    await bob.wait_for_received(of_type("Delete", id=delete_id))
    async with aiohttp.ClientSession() as session:
        headers = {"Accept": "application/activity+json"}
        async with session.get(posted.note_id, headers=headers) as response:
            assert response.status == 410
