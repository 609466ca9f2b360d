"""Joining a fedgroup group from real Fedify peers: WebFinger, Follow, Accept, approval.

fedgroup runs as its own process (`python -m fedgroup serve`) and is administered with
`admin_cli.py` in another process; each peer is Fedify 2.3.6, which records an inbound
activity only after verifying its HTTP signature, so every `received()` entry asserted here
is one a strict independent implementation accepted from us.
"""

from __future__ import annotations

import asyncio

from tests.fakes.process import ServerProcess

from .conftest import StartPeers, assert_nothing_refused, join_group
from .peer_harness import of_type, resolve_webfinger


async def test_open_group_found_by_webfinger_and_followed(
    fedgroup: ServerProcess, start_fedify_peers: StartPeers
) -> None:
    await fedgroup.admin.create_group("jazz")
    alice, carol = await start_fedify_peers(
        ("alice", "127.0.0.2", {}),
        ("carol", "127.0.0.3", {"software": "lemmy", "first_knock": "cavage"}),
    )
    group_url = await resolve_webfinger(fedgroup.group_handle("jazz"))
    assert group_url == fedgroup.group_url("jazz")

    for peer in (alice, carol):
        follow_id = await peer.follow(group_url)
        accept = await peer.wait_for_received(of_type("Accept", object_id=follow_id), timeout=15)
        assert accept["actor"] == group_url
        assert accept["signature_scheme"] in {"cavage", "rfc9421"}
        assert accept["object"]["actor"] == peer.actor_url
        following = {f["target"]: f for f in await peer.following()}
        assert following[group_url]["accepted"] is True

    listed = (await fedgroup.admin.members_list("jazz")).stdout
    assert alice.actor_url in listed or alice.handle in listed
    assert carol.actor_url in listed or carol.handle in listed
    await assert_nothing_refused(alice, carol)


async def test_approval_group_accepts_only_after_admin_approves(
    fedgroup: ServerProcess, start_fedify_peers: StartPeers
) -> None:
    await fedgroup.admin.create_group("vetted", approval_required=True)
    (alice,) = await start_fedify_peers(("alice", "127.0.0.2", {}))
    group_url = await resolve_webfinger(fedgroup.group_handle("vetted"))
    _, group = await fedgroup.get_json(group_url)
    assert group["manuallyApprovesFollowers"] is True

    follow_id = await alice.follow(group_url)
    await asyncio.sleep(4)  # long enough for an Accept to arrive if one had been sent
    answers = [e for e in await alice.received() if e["type"] in {"Accept", "Reject"}]
    assert answers == []
    members = (await fedgroup.admin.members_list("vetted")).stdout
    assert alice.actor_url not in members
    pending = (await fedgroup.admin.members_list("vetted", "--pending")).stdout
    assert alice.actor_url in pending

    await fedgroup.admin.members_approve("vetted", alice.actor_url)
    accept = await alice.wait_for_received(of_type("Accept", object_id=follow_id), timeout=15)
    assert accept["actor"] == group_url
    assert (await alice.following())[0]["accepted"] is True
    assert alice.actor_url in (await fedgroup.admin.members_list("vetted")).stdout
    await assert_nothing_refused(alice)


async def test_unfollow_leaves_the_member_list(
    fedgroup: ServerProcess, start_fedify_peers: StartPeers
) -> None:
    await fedgroup.admin.create_group("jazz")
    alice, bob = await start_fedify_peers(("alice", "127.0.0.2", {}), ("bob", "127.0.0.3", {}))
    await join_group(alice, fedgroup, "jazz")
    await join_group(bob, fedgroup, "jazz")
    await alice.unfollow(fedgroup.group_url("jazz"))
    for _ in range(50):  # the Undo is handled by fedgroup's inbound worker, not inline
        listed = (await fedgroup.admin.members_list("jazz")).stdout
        if alice.actor_url not in listed:
            break
        await asyncio.sleep(0.2)
    assert alice.actor_url not in listed
    assert bob.actor_url in listed
    await assert_nothing_refused(alice, bob)
