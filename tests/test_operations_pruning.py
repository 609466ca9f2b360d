"""Pruning removes what has served its purpose and nothing a group's history needs.

A real server on loopback with members on a fake Mastodon and a fake Lemmy: posts, a reply,
a like, a deleted post, someone who joined and left. A month later a pruning pass removes
the old activities, sent deliveries and cached actors; the outbox, the thread collections,
the announces they list and the post pages are served exactly as before, and a post deleted
after the pruning is still withdrawn from Mastodon.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fedgroup.activitypub.vocab import PUBLIC
from fedgroup.service.housekeeping import prune
from fedgroup.storage.models import (
    Activity,
    ActivityState,
    Delivery,
    DeliveryState,
    Group,
    Moderator,
    RemoteActor,
    RemoteKey,
    StoredObject,
)
from tests.fakes.members import join, post_to_group, start_remote, wait_handled
from tests.fakes.sender import post_signed
from tests.fakes.server import FedgroupServer
from tests.test_cli_groups import cli, cli_json

AS_JSON = {"Accept": "application/activity+json"}
MONTH_LATER = timedelta(days=31)


async def get(url: str, accept: str = AS_JSON["Accept"]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Accept": accept}) as answer,
    ):
        text = await answer.text()
        try:
            return answer.status, json.loads(text)
        except ValueError:
            return answer.status, text


async def served_history(server: FedgroupServer, posts: list[StoredObject]) -> dict[str, Any]:
    """Everything a reader of the group's history fetches, by URL."""
    seen: dict[str, Any] = {}
    for path in ("/groups/jazz/outbox", "/groups/jazz/outbox?page=1"):
        seen[path] = await get(server.url(path))
    for item in seen["/groups/jazz/outbox"][1]["orderedItems"]:
        seen[item["id"]] = await get(item["id"])
        context = item.get("context")
        if context:
            seen[context] = await get(context)
            seen[context + "?page=1"] = await get(context + "?page=1")
    for post in posts:
        page = server.url(f"/groups/jazz/posts/{post.id}")
        seen[page] = await get(page, "text/html")
    return seen


def undo_of(boost_id: str):
    def match(post) -> bool:
        body = post.json or {}
        return body.get("type") == "Undo" and (body.get("object") or {}).get("id") == boost_id

    return match


@pytest.fixture
async def world(tmp_path: Path):
    async with FedgroupServer(tmp_path) as server:
        await server.create_group("jazz")
        masto = await start_remote("mastodon", "carol", "dave", "frank")
        lemmy = await start_remote("lemmy", "bob")
        try:
            await join(server, masto, "carol", "jazz")
            await join(server, lemmy, "bob", "jazz")
            yield server, masto, lemmy
        finally:
            await masto.close()
            await lemmy.close()


async def test_pruning_keeps_what_the_outbox_and_threads_serve(world):
    server, masto, lemmy = world
    topic = await post_to_group(
        server, lemmy, "bob", "jazz", "<p>Voicings</p>", kind="Page", title="Voicings"
    )
    reply = await post_to_group(
        server, masto, "carol", "jazz", "<p>Drop 2</p>", in_reply_to=topic.ap_id
    )
    kept = await post_to_group(server, masto, "carol", "jazz", "<p>Standards list</p>")
    gone = await post_to_group(server, masto, "carol", "jazz", "<p>Oops</p>")
    like = {
        "id": lemmy.url(f"/activities/like/{uuid.uuid4()}"),
        "type": "Like",
        "actor": lemmy.actor_url("bob"),
        "object": kept.ap_id,
        "audience": server.group_url("jazz"),
    }
    assert (await post_signed(lemmy, server.url("/inbox"), like, actor="bob")).status == 202
    await wait_handled(like["id"])
    await delete_post(server, masto, gone)
    # Dave joins and leaves: his cached actor is no longer needed.
    await join(server, masto, "dave", "jazz")
    await leave(server, masto, "dave")
    # Frank too, but he moderates the group: the page names him.
    await join(server, masto, "frank", "jazz")
    await leave(server, masto, "frank")
    await Moderator.create(group=await Group.get(name="jazz"), actor_url=masto.actor_url("frank"))
    await wait_deliveries_settled()
    # One without an object (SQL's NOT IN never matches NULL: it must still go).
    await Activity.create(
        ap_id=server.url(f"/activities/{uuid.uuid4()}"),
        type="Add",
        actor=server.group_url("jazz"),
        inbound=False,
        payload={},
    )

    posts = [topic, reply, kept]
    before = await served_history(server, posts)
    assert all(status == 200 for status, _ in before.values()), before
    assert await RemoteActor.exists(url=masto.actor_url("dave"))

    assert (await prune(server.settings)).total == 0, "nothing is a month old yet"
    pruned = await prune(server.settings, now=datetime.now(UTC) + MONTH_LATER)
    assert pruned.inbound_activities > 0 and pruned.outbound_activities > 0
    assert pruned.deliveries > 0 and pruned.remote_actors == 1 and pruned.remote_keys > 0

    assert not await Activity.filter(inbound=True).exclude(state=ActivityState.RECEIVED).exists()
    assert not await Delivery.filter(state=DeliveryState.DELIVERED).exists()
    remaining = set(await Activity.filter(inbound=False).values_list("ap_id", flat=True))
    listed = {p.announce_id for p in await StoredObject.filter(announce_id__isnull=False)}
    live = [p.ap_id for p in posts]
    boosts = set(
        await Activity.filter(inbound=False, type="Announce", object_id__in=live)
        .values_list("ap_id", flat=True)
    )  # fmt: skip
    assert listed and boosts and remaining == listed | boosts
    assert not await RemoteActor.exists(url=masto.actor_url("dave"))
    assert await RemoteActor.exists(url=masto.actor_url("frank"))
    assert await RemoteActor.exists(url=masto.actor_url("carol"))
    assert await RemoteActor.exists(url=lemmy.actor_url("bob"))
    assert not await RemoteKey.exists(), "keys are refetched when next needed"

    after = await served_history(server, posts)
    assert after == before
    assert "Bob" in after[server.url(f"/groups/jazz/posts/{topic.id}")][1]
    assert (await prune(server.settings, now=datetime.now(UTC) + MONTH_LATER)).total == 0

    # The group can still withdraw its boost of a post deleted after the pruning.
    boost = await Activity.get(inbound=False, type="Announce", object_id=kept.ap_id)
    await delete_post(server, masto, kept)
    undo = await masto.wait_for(undo_of(boost.ap_id), timeout=10)
    assert undo.verified is True


async def test_the_server_prunes_in_the_background(tmp_path: Path):
    async with FedgroupServer(tmp_path, prune_interval=1, prune_inbound_after=60) as server:
        await server.create_group("jazz")
        lemmy = await start_remote("lemmy", "bob")
        try:
            await join(server, lemmy, "bob", "jazz")
            old = await Activity.filter(inbound=True, state=ActivityState.DONE).count()
            assert old >= 1
            await Activity.filter(inbound=True).update(
                created_at=datetime.now(UTC) - timedelta(minutes=2)
            )
            async with asyncio.timeout(10):
                while True:
                    if not await Activity.filter(inbound=True, state=ActivityState.DONE).exists():
                        break
                    await asyncio.sleep(0.1)
            assert await Activity.filter(inbound=False).exists(), "other ages not reached"
        finally:
            await lemmy.close()


async def delete_post(server: FedgroupServer, author, post: StoredObject) -> None:
    name = post.attributed_to.rsplit("/", 1)[1]
    delete = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": post.ap_id + "#delete",
        "type": "Delete",
        "actor": post.attributed_to,
        "to": [PUBLIC],
        "object": {"id": post.ap_id, "type": "Tombstone"},
    }
    assert (await post_signed(author, server.url("/inbox"), delete, actor=name)).status == 202
    await wait_handled(delete["id"])


async def leave(server: FedgroupServer, remote, name: str) -> None:
    follow = next(
        p.json["object"]
        for p in remote.received
        if (p.json or {}).get("type") == "Accept"
        and p.json["object"].get("actor") == remote.actor_url(name)
    )
    undo = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": remote.url(f"/undo/{uuid.uuid4()}"),
        "type": "Undo",
        "actor": remote.actor_url(name),
        "object": follow,
    }
    assert (await post_signed(remote, server.url("/inbox"), undo, actor=name)).status == 202
    await wait_handled(undo["id"])


async def wait_deliveries_settled() -> None:
    pending = (DeliveryState.QUEUED, DeliveryState.RETRYING)
    async with asyncio.timeout(10):
        while True:
            if not await Delivery.filter(state__in=pending).exists():
                return
            await asyncio.sleep(0.05)


def test_prune_command_runs_one_pass(fedgroup_env, capsys) -> None:
    assert cli_json(capsys, "prune") == {
        "inbound_activities": 0,
        "outbound_activities": 0,
        "deliveries": 0,
        "remote_actors": 0,
        "remote_keys": 0,
    }
    code, out, _ = cli(capsys, "prune")
    assert code == 0 and out == "nothing to prune\n"
