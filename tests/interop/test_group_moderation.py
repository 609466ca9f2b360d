"""Moderation seen from a Fedify peer: an admin bans a member with the admin CLI.

fedgroup tells a banned member's server in both ways software understands (Reject{Follow},
which Mastodon reads as "no longer following", and Block, which FEP-1b12 software reads),
stops announcing what the banned actor posts, and refuses their attempt to rejoin.
"""

from __future__ import annotations

import asyncio

from tests.fakes.process import ServerProcess

from .conftest import StartPeers, assert_nothing_refused, join_group
from .peer_harness import of_type

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
TIMEOUT = 15.0


async def test_banned_member_is_told_and_no_longer_announced(
    fedgroup: ServerProcess, start_fedify_peers: StartPeers
) -> None:
    await fedgroup.admin.create_group("jazz")
    group_url = fedgroup.group_url("jazz")
    alice, bob, carol = await start_fedify_peers(
        ("alice", "127.0.0.2", {}),
        ("bob", "127.0.0.3", {}),
        ("carol", "127.0.0.4", {"software": "lemmy"}),
    )
    alice_follow = await join_group(alice, fedgroup, "jazz")
    await join_group(bob, fedgroup, "jazz")
    await join_group(carol, fedgroup, "jazz")

    # The admin bans alice by handle, as a moderator would type it.
    await fedgroup.admin.ban("jazz", f"@{alice.handle}", "--reason", "spam")
    reject = await alice.wait_for_received(of_type("Reject", actor=group_url), TIMEOUT)
    assert reject["object_id"] == alice_follow
    block = await alice.wait_for_received(of_type("Block", actor=group_url), TIMEOUT)
    assert block["object_id"] == alice.actor_url
    assert (await alice.following())[0]["accepted"] is False
    assert alice.actor_url not in (await fedgroup.admin.members_list("jazz")).stdout

    # Her next post to the group is not announced; bob's, sent after it, still is.
    banned_post = await alice.post(
        "<p>buy my pills</p>", to=[PUBLIC], cc=[group_url], mention=group_url
    )
    bob_post = await bob.post("<p>still here</p>", to=[PUBLIC], cc=[group_url], mention=group_url)
    await carol.wait_for_received(of_type("Announce", object_id=bob_post.activity_id), TIMEOUT)
    await asyncio.sleep(1)
    banned_ids = {banned_post.note_id, banned_post.activity_id}
    for peer in (bob, carol):
        leaked = [e for e in await peer.received() if e.get("object_id") in banned_ids]
        assert leaked == [], f"{peer.handle} got the banned member's post"
    assert not [e for e in await alice.received() if e.get("object_id") == bob_post.note_id]

    # Following again is refused.
    refollow = await alice.follow(group_url)
    await alice.wait_for_received(of_type("Reject", object_id=refollow), TIMEOUT)
    assert not [
        e for e in await alice.received() if e["type"] == "Accept" and e["object_id"] == refollow
    ]
    await assert_nothing_refused(alice, bob, carol)
