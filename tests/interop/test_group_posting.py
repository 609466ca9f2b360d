"""A member's post reaches the other members, in the shape each member's software reads.

Fedify peers pose as Mastodon (NodeInfo `mastodon`) and Lemmy (`lemmy`); fedgroup learns
which from their NodeInfo when they follow. A microblog member gets the group's boost
(`Announce` of the author's Note, which Fedify fetches from the author's server); a FEP-1b12
member gets `Announce{Create{Note}}` (Fedify re-fetches the cross-origin `Create` from its
author too). Everything a peer records was signature-verified by Fedify first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.fakes.process import ServerProcess

from .conftest import StartPeers, assert_nothing_refused, join_group
from .peer_harness import FedifyPeer, Received

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
QUIET_PERIOD = 3.0  # how long "receives nothing" is watched for; announces take < 1 s here
TIMEOUT = 15.0


def group_announce(group_url: str, object_id: str) -> Callable[[Received], bool]:
    """The group's Announce whose object (a Note, or an activity) has this id."""

    def matches(entry: Received) -> bool:
        return (
            entry["type"] == "Announce"
            and entry["actor"] == group_url
            and entry["object_id"] == object_id
        )

    return matches


def mentions_anywhere(object_ids: set[str]) -> Callable[[Received], bool]:
    """Any received entry about one of these ids: as object, or inside an announced activity."""

    def matches(entry: Received) -> bool:
        inner = entry.get("object") or {}
        nested = inner.get("object") if isinstance(inner, dict) else None
        nested_id = nested.get("id") if isinstance(nested, dict) else nested
        return bool({entry.get("object_id"), nested_id} & object_ids)

    return matches


async def assert_receives_nothing(
    peer: FedifyPeer, predicate: Callable[[Received], bool], seconds: float = QUIET_PERIOD
) -> None:
    await asyncio.sleep(seconds)
    unexpected = [e for e in await peer.received() if predicate(e)]
    assert unexpected == [], f"{peer.handle} received {[(e['type'], e['id']) for e in unexpected]}"


async def three_members(
    fedgroup: ServerProcess, start_fedify_peers: StartPeers
) -> tuple[str, FedifyPeer, FedifyPeer, FedifyPeer]:
    """Group `jazz` with alice (mastodon), bob (mastodon) and carol (lemmy, cavage first)."""
    await fedgroup.admin.create_group("jazz")
    alice, bob, carol = await start_fedify_peers(
        ("alice", "127.0.0.2", {}),
        ("bob", "127.0.0.3", {}),
        ("carol", "127.0.0.4", {"software": "lemmy", "first_knock": "cavage"}),
    )
    for peer in (alice, bob, carol):
        await join_group(peer, fedgroup, "jazz")
    return fedgroup.group_url("jazz"), alice, bob, carol


async def test_post_reply_and_like_reach_members_in_their_shape(
    fedgroup: ServerProcess, start_fedify_peers: StartPeers
) -> None:
    group_url, alice, bob, carol = await three_members(fedgroup, start_fedify_peers)

    # A Mastodon-style post: public, the group mentioned and addressed.
    posted = await alice.post(
        "<p>Monk or Evans?</p>", to=[PUBLIC], cc=[group_url], mention=group_url
    )

    boost = await bob.wait_for_received(group_announce(group_url, posted.note_id), TIMEOUT)
    assert isinstance(boost["raw"]["object"], str)  # a boost names the status by id
    assert boost["object"]["type"] == "Note"
    assert boost["object"]["attributedTo"] == alice.actor_url
    assert boost["object"]["content"] == "<p>Monk or Evans?</p>"  # fetched from alice

    wrapped = await carol.wait_for_received(group_announce(group_url, posted.activity_id), TIMEOUT)
    assert wrapped["object"]["type"] == "Create"
    assert wrapped["object"]["actor"] == alice.actor_url
    assert wrapped["inner_object"]["id"] == posted.note_id
    assert wrapped["inner_object"]["content"] == "<p>Monk or Evans?</p>"
    assert wrapped["activity"].get("audience") == group_url

    # A Lemmy-style comment in the thread: to the community, replying to alice's note.
    reply = await carol.post(
        "<p>Evans, for the voicings.</p>",
        to=[group_url],
        cc=[PUBLIC, alice.actor_url],
        in_reply_to=posted.note_id,
        audience=group_url,
    )
    reply_boost = await bob.wait_for_received(group_announce(group_url, reply.note_id), TIMEOUT)
    assert reply_boost["object"]["inReplyTo"] == posted.note_id
    assert reply_boost["object"]["attributedTo"] == carol.actor_url

    # A like of the post, sent to the group: FEP-1b12 members count it from Announce{Like};
    # microblog members get nothing (the author's server hears of likes directly).
    like_id = await bob.like(posted.note_id, to=[group_url])
    announced_like = await carol.wait_for_received(group_announce(group_url, like_id), TIMEOUT)
    assert announced_like["object"]["type"] == "Like"
    assert announced_like["object"]["actor"] == bob.actor_url
    assert announced_like["inner_object"]["id"] == posted.note_id
    await assert_receives_nothing(alice, mentions_anywhere({like_id}), seconds=1)
    await assert_receives_nothing(bob, mentions_anywhere({like_id}), seconds=0)

    await assert_nothing_refused(alice, bob, carol)


async def test_author_delete_withdraws_the_post(
    fedgroup: ServerProcess, start_fedify_peers: StartPeers
) -> None:
    group_url, alice, bob, carol = await three_members(fedgroup, start_fedify_peers)
    posted = await alice.post("<p>oops</p>", to=[PUBLIC], cc=[group_url], mention=group_url)
    boost = await bob.wait_for_received(group_announce(group_url, posted.note_id), TIMEOUT)
    await carol.wait_for_received(group_announce(group_url, posted.activity_id), TIMEOUT)

    # The author deletes the post: FEP-1b12 members get Announce{Delete}; microblog members
    # see the group's boost withdrawn (Undo{Announce}).
    delete_id = await alice.delete(posted.note_id)
    announced_delete = await carol.wait_for_received(group_announce(group_url, delete_id), TIMEOUT)
    assert announced_delete["object"]["type"] == "Delete"
    assert announced_delete["object"]["actor"] == alice.actor_url

    def withdraws_boost(entry: Received) -> bool:
        return (
            entry["type"] == "Undo"
            and entry["actor"] == group_url
            and entry["object_id"] == boost["id"]
        )

    unboost = await bob.wait_for_received(withdraws_boost, TIMEOUT)
    assert unboost["object"]["type"] == "Announce"

    await assert_nothing_refused(alice, bob, carol)


async def test_lemmy_page_to_the_community_reaches_both_kinds(
    fedgroup: ServerProcess, start_fedify_peers: StartPeers
) -> None:
    group_url, alice, bob, carol = await three_members(fedgroup, start_fedify_peers)
    page = await carol.post(
        "<p>Share your practice routines.</p>",
        to=[group_url],
        cc=[PUBLIC],
        name="Practice routines",
        object_type="Page",
        audience=group_url,
    )
    boost = await alice.wait_for_received(group_announce(group_url, page.note_id), TIMEOUT)
    assert boost["object"]["type"] == "Page"
    assert boost["object"]["name"] == "Practice routines"
    await bob.wait_for_received(group_announce(group_url, page.note_id), TIMEOUT)
    await assert_nothing_refused(alice, bob, carol)


async def test_member_who_unfollows_stops_receiving(
    fedgroup: ServerProcess, start_fedify_peers: StartPeers
) -> None:
    group_url, alice, bob, carol = await three_members(fedgroup, start_fedify_peers)
    first = await alice.post("<p>one</p>", to=[PUBLIC], cc=[group_url], mention=group_url)
    await bob.wait_for_received(group_announce(group_url, first.note_id), TIMEOUT)

    await bob.unfollow(group_url)
    await _until_not_member(fedgroup, bob)
    second = await alice.post("<p>two</p>", to=[PUBLIC], cc=[group_url], mention=group_url)
    await carol.wait_for_received(group_announce(group_url, second.activity_id), TIMEOUT)
    await assert_receives_nothing(bob, mentions_anywhere({second.note_id, second.activity_id}))
    await assert_nothing_refused(alice, bob, carol)


async def _until_not_member(fedgroup: ServerProcess, peer: FedifyPeer) -> None:
    """The Undo{Follow} is handled by fedgroup's inbound worker after the 202."""
    listed = ""
    for _ in range(50):
        listed = (await fedgroup.admin.members_list("jazz")).stdout
        if peer.actor_url not in listed:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{peer.actor_url} still listed as a member:\n{listed}")
