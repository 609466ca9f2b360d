"""Inbound activities are handled concurrently across actors, but one actor's (and one
object's) in the order they arrived: a Follow/Undo storm ends as its last activity says."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fedgroup.pipeline.inbound import ordered_chains
from fedgroup.storage.models import Activity, ActivityState, Membership, MembershipState
from tests.fakes import FakeInstance
from tests.fakes.sender import post_signed
from tests.fakes.server import FedgroupServer

WAIT = 60.0
CROWD = [f"c{n}" for n in range(12)]
STAYING = [f"stays{n}" for n in range(4)]
LEAVING = [f"leaves{n}" for n in range(4)]


@pytest.fixture
async def world(tmp_path: Path):
    async with FedgroupServer(tmp_path) as server, FakeInstance(software="mastodon") as remote:
        await server.create_group("jazz")
        for name in [*STAYING, *LEAVING, *CROWD]:
            remote.add_actor(name)
        yield SimpleNamespace(server=server, remote=remote)


def _follow(remote: FakeInstance, actor: str, group_url: str) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": remote.url(f"/follows/{uuid.uuid4()}"),
        "type": "Follow",
        "actor": remote.actor_url(actor),
        "object": group_url,
    }


def _undo(remote: FakeInstance, actor: str, follow: dict[str, Any]) -> dict[str, Any]:
    inner = {k: v for k, v in follow.items() if k != "@context"}
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": follow["id"] + "/undo",
        "type": "Undo",
        "actor": remote.actor_url(actor),
        "object": inner,
    }


async def _storm(world: SimpleNamespace, actor: str, rounds: int, *, end_following: bool) -> None:
    """Follow, Undo, Follow, Undo… each answered before the next is sent (so they arrive in
    this order), ending with a Follow or with an Undo."""
    inbox = world.server.url("/inbox")
    group_url = world.server.group_url("jazz")
    for _ in range(rounds):
        follow = _follow(world.remote, actor, group_url)
        assert (await post_signed(world.remote, inbox, follow, actor=actor)).status == 202
        assert (
            await post_signed(world.remote, inbox, _undo(world.remote, actor, follow), actor=actor)
        ).status == 202
    if end_following:
        last = _follow(world.remote, actor, group_url)
        assert (await post_signed(world.remote, inbox, last, actor=actor)).status == 202


async def _crowd_follows(world: SimpleNamespace) -> None:
    inbox = world.server.url("/inbox")
    group_url = world.server.group_url("jazz")
    answers = await asyncio.gather(
        *(
            post_signed(world.remote, inbox, _follow(world.remote, name, group_url), actor=name)
            for name in CROWD
        )
    )
    assert [a.status for a in answers] == [202] * len(CROWD)


async def _members() -> set[str]:
    rows = await Membership.filter(state=MembershipState.ACCEPTED).values_list(
        "actor__preferred_username", flat=True
    )
    return set(rows)


async def test_follow_undo_storms_end_as_their_last_activity_says(world: SimpleNamespace):
    await asyncio.gather(
        *(_storm(world, name, 5, end_following=True) for name in STAYING),
        *(_storm(world, name, 5, end_following=False) for name in LEAVING),
        _crowd_follows(world),
    )
    async with asyncio.timeout(WAIT):
        while True:
            if not await Activity.filter(inbound=True, state=ActivityState.RECEIVED).exists():
                break
            await asyncio.sleep(0.05)
    assert await _members() == {*STAYING, *CROWD}
    assert not await Activity.filter(inbound=True, state=ActivityState.FAILED).exists()


def _row(n: int, actor: str, object_id: str | None) -> Any:
    return SimpleNamespace(id=n, actor=actor, object_id=object_id)


def test_chains_join_rows_sharing_an_actor_or_a_remote_object_in_arrival_order() -> None:
    ours = "https://ours.example/"
    group = ours + "groups/jazz"
    note1, note2 = "https://a.example/notes/1", "https://a.example/notes/2"
    rows = [
        _row(1, "bob", note1),  # Bob likes Alice's note before its Create arrives
        _row(2, "carol", group),  # Carol follows the group
        _row(3, "alice", note1),  # Alice's Create of note1: same object as row 1
        _row(4, "alice", note2),  # Alice again: same actor as row 3, so with row 1 too
        _row(5, "dave", group),  # Dave follows the group too: our object joins nothing
        _row(6, "erin", None),
        _row(7, "carol", group),  # Carol's Undo comes after her Follow, in her chain
    ]
    chains = [[row.id for row in chain] for chain in ordered_chains(rows, ours)]  # type: ignore[arg-type]
    assert sorted(chains) == [[1, 3, 4], [2, 7], [5], [6]]
