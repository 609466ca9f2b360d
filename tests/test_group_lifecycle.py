"""A group's life as members' servers see it: edits, a new key, and deletion.

Our real server on loopback with a real SQLite file; members on a fake Mastodon and a fake
Lemmy (distinct 127.x addresses) that verify every signature the way those servers do: the
Mastodon one caches keys and refetches once when a signature fails (key rotation), the Lemmy
one fetches the key each time. What they would do with what they receive is modelled in
tests/fakes/software.py after Mastodon's and Lemmy's own checks.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fedgroup.activitypub.httpsig import load_public_key, parse_request_signature
from fedgroup.activitypub.vocab import PUBLIC
from fedgroup.service import groups, lifecycle
from fedgroup.service.errors import Reserved
from fedgroup.service.outbound import retry_host
from fedgroup.storage.models import Activity, Delivery, DeliveryState, Group, GroupTombstone
from tests.fakes import FakeInstance, status_sequence
from tests.fakes.sender import follow_group, post_signed
from tests.fakes.server import FedgroupServer
from tests.fakes.software import (
    lemmy_community_update,
    lemmy_deletes_community,
    mastodon_deletes_account,
    mastodon_profile_update,
)
from tests.fakes.verify import KeyFetchingVerifier, verify_signed_post

AS_JSON = {"Accept": "application/activity+json"}


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers=headers or AS_JSON) as response,
    ):
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


def of_type(kind: str):
    return lambda post: (post.json or {}).get("type") == kind


@pytest.fixture
async def world(tmp_path: Path):
    """Our server with an open public group `jazz` and an approval group `circle`, each with
    a member on a fake Mastodon (caching keys) and one on a fake Lemmy."""
    async with FedgroupServer(tmp_path) as server:
        await server.create_group("jazz", display_name="Jazz")
        await server.create_group("circle", approval=False)
        masto = FakeInstance(software="mastodon")
        lemmy = FakeInstance(software="lemmy")
        await masto.start()
        await lemmy.start()
        masto.add_actor("carol")
        lemmy.add_actor("bob")
        masto.verify = KeyFetchingVerifier()
        lemmy.verify = verify_signed_post
        try:
            for group in ("jazz", "circle"):
                await follow_group(masto, "carol", server.group_url(group))
                await follow_group(lemmy, "bob", server.group_url(group))
            yield server, masto, lemmy
        finally:
            await masto.close()
            await lemmy.close()


# --- edits ---------------------------------------------------------------------------------


async def test_edit_reaches_members_servers_as_an_update_they_apply(world):
    server, masto, lemmy = world
    _, before = await get(server.group_url("jazz"))
    await groups.edit_group(
        server.settings, "jazz", display_name="Jazz Piano", summary="Chords\n\nand voicings"
    )
    _, served = await get(server.group_url("jazz"))
    served.pop("@context")

    at_masto = await masto.wait_for(of_type("Update"), timeout=10)
    assert at_masto.path == "/inbox", "one Update per server, to its shared inbox"
    profile = mastodon_profile_update(at_masto)
    assert profile is not None, at_masto.json
    assert profile == served, "what is sent is what is served"
    assert profile["name"] == "Jazz Piano"
    assert profile["summary"] == "<p>Chords</p><p>and voicings</p>"

    at_lemmy = await lemmy.wait_for(of_type("Update"), timeout=10)
    community = lemmy_community_update(at_lemmy, before)
    assert community is not None, at_lemmy.json
    assert community["name"] == "Jazz Piano"
    assert at_lemmy.json["to"] == [PUBLIC]
    assert at_lemmy.json["cc"] == [server.group_url("jazz") + "/followers"]


async def test_an_approval_group_never_addresses_public_in_its_update(world):
    server, masto, lemmy = world
    await groups.edit_group(server.settings, "circle", approval_required=True)
    _, now = await get(server.group_url("circle"))
    assert now["manuallyApprovesFollowers"] is True
    at_lemmy = await lemmy.wait_for(
        lambda p: of_type("Update")(p) and p.json["actor"].endswith("/circle"), timeout=10
    )
    assert PUBLIC not in at_lemmy.json["to"] + at_lemmy.json["cc"]
    # Lemmy judges the addressing by the community as it now is: private.
    assert lemmy_community_update(at_lemmy, now) is not None
    at_masto = await masto.wait_for(
        lambda p: of_type("Update")(p) and p.json["actor"].endswith("/circle"), timeout=10
    )
    assert mastodon_profile_update(at_masto)["manuallyApprovesFollowers"] is True


async def test_an_edit_that_changes_nothing_sends_nothing(world):
    server, masto, _lemmy = world
    with pytest.raises(Exception, match="display name is empty"):
        await groups.edit_group(server.settings, "jazz", display_name=" ")
    await groups.edit_group(server.settings, "jazz")
    assert not await Activity.exists(type="Update", inbound=False)


# --- key rotation --------------------------------------------------------------------------


async def test_rotated_key_is_verified_by_a_server_that_cached_the_old_one(world):
    server, masto, _lemmy = world
    verifier: KeyFetchingVerifier = masto.verify  # type: ignore[assignment]
    key_id = server.group_url("jazz") + "#main-key"
    old_pem = verifier.keys[key_id][1]
    fetched_before = verifier.fetches.count(key_id)
    old_private = (await Group.get(name="jazz")).private_key_pem

    await lifecycle.rotate_key(server.settings, "jazz")

    update = await masto.wait_for(
        lambda p: of_type("Update")(p) and p.json["actor"] == server.group_url("jazz"),
        timeout=10,
    )
    group = await Group.get(name="jazz")
    assert group.private_key_pem != old_private
    assert update.verified is True, "verified after refetching the key"
    assert verifier.fetches.count(key_id) == fetched_before + 1
    assert verifier.keys[key_id][1] == group.public_key_pem != old_pem
    assert mastodon_profile_update(update)["publicKey"]["publicKeyPem"] == group.public_key_pem
    claim = parse_request_signature(
        "POST", masto.url(update.path), update.headers, has_body=True, body=update.body,
        now=time.time(),
    )  # fmt: skip
    assert not claim.verify(load_public_key(old_pem)), "signed with the new key"

    # What the group sends next verifies from the refreshed cache, without another fetch.
    await groups.edit_group(server.settings, "jazz", summary="new key, same group")
    later = await masto.wait_for(
        lambda p: of_type("Update")(p) and "new key" in p.json["object"]["summary"], timeout=10
    )
    assert later.verified is True
    assert verifier.fetches.count(key_id) == fetched_before + 1


async def test_deliveries_queued_before_a_rotation_are_signed_with_the_new_key(world):
    server, masto, _lemmy = world
    masto.inbox_responder = status_sequence(503, then=202)
    await groups.edit_group(server.settings, "jazz", summary="queued before the rotation")
    first = await masto.wait_for(lambda p: p.status == 503, timeout=10)
    assert "queued before" in first.json["object"]["summary"]
    await lifecycle.rotate_key(server.settings, "jazz")
    await retry_host(masto.domain)
    retried = await masto.wait_for(
        lambda p: p.status == 202 and p.json["id"] == first.json["id"], timeout=10
    )
    new_pem = (await Group.get(name="jazz")).public_key_pem
    claim = parse_request_signature(
        "POST", masto.url(retried.path), retried.headers, has_body=True, body=retried.body,
        now=time.time(),
    )  # fmt: skip
    assert claim.verify(load_public_key(new_pem))
    assert retried.verified is True


# --- deletion ------------------------------------------------------------------------------


async def test_delete_reaches_every_member_server_then_the_address_is_gone(world):
    server, masto, lemmy = world
    _, known = await get(server.group_url("jazz"))
    # Mastodon's server is down when the group is deleted: its Delete stays pending.
    masto.inbox_responder = status_sequence(503, then=202)
    tombstone = await lifecycle.delete_group(server.settings, "jazz")
    assert tombstone.members_told == 2

    at_lemmy = await lemmy.wait_for(of_type("Delete"), timeout=10)
    assert at_lemmy.verified is True, "the key was fetched from our server and verified"
    assert lemmy_deletes_community(at_lemmy, known)
    await masto.wait_for(lambda p: of_type("Delete")(p) and p.status == 503, timeout=10)

    # While a Delete is still owed, the address serves the key, and nothing else.
    status, retiring = await get(server.group_url("jazz"))
    assert status == 200 and retiring["publicKey"]["id"] == server.group_url("jazz") + "#main-key"
    assert "summary" not in retiring and "name" not in retiring
    for path in ("/groups/jazz/outbox", "/groups/jazz/followers"):
        assert (await get(server.url(path)))[0] == 410
    webfinger = f"/.well-known/webfinger?resource=acct:jazz@{server.settings.domain}"
    assert (await get(server.url(webfinger)))[0] == 410
    assert (await get(server.group_url("jazz"), {"Accept": "text/html"}))[0] == 410
    follow = {
        "id": masto.url(f"/follows/{uuid.uuid4()}"),
        "type": "Follow",
        "actor": masto.actor_url("carol"),
        "object": server.group_url("jazz"),
    }
    answer = await post_signed(masto, server.url("/groups/jazz/inbox"), follow, actor="carol")
    assert answer.status == 410
    assert (await GroupTombstone.get(name="jazz")).settled_at is None

    # The server is back: the Delete goes through, and the key goes with it.
    await retry_host(masto.domain)
    at_masto = await masto.wait_for(lambda p: of_type("Delete")(p) and p.status == 202, 10)
    assert mastodon_deletes_account(at_masto)
    await wait_settled("jazz")
    stored = await GroupTombstone.get(name="jazz")
    assert stored.private_key_pem is None and stored.public_key_pem is None

    status, gone = await get(server.group_url("jazz"))
    assert status == 410
    assert gone["type"] == "Tombstone" and gone["id"] == server.group_url("jazz")
    assert gone["formerType"] == "Group"
    # The other group is untouched.
    assert (await get(server.group_url("circle")))[0] == 200


async def recorded(*states: DeliveryState, within: float = 10.0) -> None:
    """Until the group Delete's deliveries are in exactly these states."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        now = await Delivery.filter(activity__type="Delete").values_list("state", flat=True)
        if sorted(now) == sorted(states):
            return
        assert asyncio.get_running_loop().time() < deadline, now
        await asyncio.sleep(0.05)


async def test_a_delete_given_up_on_settles_by_the_sweep(world):
    server, masto, lemmy = world
    masto.inbox_responder = status_sequence(503, then=503)
    await lifecycle.delete_group(server.settings, "circle")
    await masto.wait_for(lambda p: of_type("Delete")(p) and p.status == 503, timeout=10)
    await lemmy.wait_for(of_type("Delete"), timeout=10)
    # What each answer came to is recorded after the answer (a success in the background).
    await recorded(DeliveryState.DELIVERED, DeliveryState.RETRYING)
    assert not await lifecycle.finish_settled_deletions()
    # A week later the delivery worker gives up on the dead server.
    await Delivery.filter(state=DeliveryState.RETRYING).update(state=DeliveryState.FAILED)
    assert await lifecycle.finish_settled_deletions() == 1
    assert (await get(server.group_url("circle")))[0] == 410


async def test_a_deleted_name_is_refused_until_reuse_is_allowed(world):
    server, _masto, _lemmy = world
    await lifecycle.delete_group(server.settings, "jazz")
    with pytest.raises(Reserved):
        await groups.create_group("jazz")


async def wait_settled(name: str) -> None:
    """Until the tombstone says its Delete is settled (the delivery worker finishes it)."""
    async with asyncio.timeout(10):
        while True:
            if await GroupTombstone.exists(name=name, settled_at__isnull=False):
                return
            await asyncio.sleep(0.05)
