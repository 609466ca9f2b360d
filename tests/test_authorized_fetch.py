"""Authorized fetch: objects and collections only for signed GETs from servers we talk to.

Our server on loopback with `authorized_fetch` on (and off, where members-only groups keep it
on regardless); the readers are fake servers on distinct 127.x addresses that sign their GETs
with their own keys: a member's server, a stranger's, and a suspended one.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fedgroup.activitypub.vocab import PUBLIC
from fedgroup.policy import Severity
from fedgroup.storage.models import Activity, DomainPolicy, Group, StoredObject
from tests.fakes import FakeInstance
from tests.fakes.sender import follow_group, signed_get
from tests.fakes.server import FedgroupServer

AS_JSON = {"Accept": "application/activity+json"}
COLLECTIONS = ("outbox", "outbox?page=1", "followers", "featured", "moderators")


async def fetch(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers=headers) as response,
    ):
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


async def announce_in(server: FedgroupServer, name: str) -> str:
    """A public Announce in the group's outbox (as announcing a member's post leaves)."""
    group = await Group.get(name=name)
    activity_id = server.url(f"/activities/{uuid.uuid4()}")
    await Activity.create(
        ap_id=activity_id,
        type="Announce",
        actor=server.group_url(name),
        inbound=False,
        group=group,
        public=True,
        payload={"id": activity_id, "type": "Announce", "to": [PUBLIC], "object": "x"},
    )
    # The outbox lists the conversations the group announced, by their latest Announce.
    await StoredObject.create(
        ap_id=f"https://social.example/notes/{uuid.uuid4()}", type="Note", group=group,
        attributed_to="https://social.example/users/ann", document={"to": [PUBLIC]},
        announce_id=activity_id,
    )
    return activity_id


@pytest.fixture
async def readers():
    """A member's server, a stranger's and a suspended one, each with one actor."""
    remotes = [FakeInstance(software="mastodon") for _ in range(3)]
    for remote, name in zip(remotes, ("carol", "eve", "mallory"), strict=True):
        await remote.start()
        remote.add_actor(name)
    try:
        yield remotes
    finally:
        for remote in remotes:
            await remote.close()


async def start_world(tmp_path: Path, readers, *, authorized_fetch: bool):
    server = FedgroupServer(tmp_path, authorized_fetch=int(authorized_fetch))
    await server.__aenter__()
    member, _stranger, suspended = readers
    await server.create_group("jazz")
    await server.create_group("circle", members_only=True)
    for group in ("jazz", "circle"):
        await follow_group(member, "carol", server.group_url(group))
    await DomainPolicy.create(domain=suspended.address, severity=Severity.SUSPEND)
    return server


@pytest.fixture
async def secure(tmp_path: Path, readers):
    server = await start_world(tmp_path, readers, authorized_fetch=True)
    try:
        yield server, *readers
    finally:
        await server.__aexit__(None, None, None)


@pytest.fixture
async def open_server(tmp_path: Path, readers):
    server = await start_world(tmp_path, readers, authorized_fetch=False)
    try:
        yield server, *readers
    finally:
        await server.__aexit__(None, None, None)


async def test_unsigned_reads_of_objects_and_collections_are_refused(secure):
    server, *_ = secure
    activity = await announce_in(server, "jazz")
    for url in [activity] + [server.url(f"/groups/jazz/{c}") for c in COLLECTIONS]:
        status, body = await fetch(url, AS_JSON)
        assert status == 401, url
        assert "sign" in body["error"]


async def test_actor_key_webfinger_and_nodeinfo_stay_public(secure):
    server, *_ = secure
    public = [
        server.group_url("jazz"),
        server.group_url("circle"),
        server.url("/actor"),
        server.url(f"/.well-known/webfinger?resource=acct:jazz@{server.settings.domain}"),
        server.url("/.well-known/nodeinfo"),
        server.url("/nodeinfo/2.1"),
        server.url("/.well-known/host-meta"),
    ]
    for url in public:
        status, _ = await fetch(url, AS_JSON)
        assert status == 200, url
    _, actor = await fetch(server.group_url("jazz"), AS_JSON)
    assert actor["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")


async def test_a_signed_read_from_any_server_in_good_standing_is_served(secure):
    server, _member, stranger, _suspended = secure
    activity = await announce_in(server, "jazz")
    for url in [activity] + [server.url(f"/groups/jazz/{c}") for c in COLLECTIONS]:
        status, body = await fetch(url, signed_get(stranger, "eve", url))
        assert status == 200, (url, body)
    _, page = await fetch(
        server.url("/groups/jazz/outbox?page=1"),
        signed_get(stranger, "eve", server.url("/groups/jazz/outbox?page=1")),
    )
    assert [item["id"] for item in page["orderedItems"]] == [activity]


async def test_a_suspended_server_is_refused_without_fetching_its_key(secure):
    server, _member, _stranger, suspended = secure
    url = server.url("/groups/jazz/outbox")
    status, body = await fetch(url, signed_get(suspended, "mallory", url))
    assert status == 403 and "suspended" in body["error"]
    assert not [r for r in suspended.requests if r.method == "GET"], "no key fetch"


async def test_a_forged_or_stale_signature_is_refused(secure):
    server, _member, stranger, _suspended = secure
    url = server.url("/groups/jazz/outbox")
    headers = signed_get(stranger, "eve", url)
    status, _ = await fetch(server.url("/groups/jazz/followers"), headers)
    assert status == 401, "a signature for another path"
    other = FakeInstance(address=stranger.address, key_size=1024)
    forged = signed_get(other, "eve", url)  # the right key id, somebody else's key
    forged["Signature"] = forged["Signature"].replace(other.key_id("eve"), stranger.key_id("eve"))
    status, _ = await fetch(url, forged)
    assert status == 401


async def test_members_only_content_is_for_members_servers(secure):
    server, member, stranger, _suspended = secure
    for collection in COLLECTIONS:
        url = server.url(f"/groups/circle/{collection}")
        status, body = await fetch(url, signed_get(stranger, "eve", url))
        assert status == 403 and "members only" in body["error"], url
        status, body = await fetch(url, signed_get(member, "carol", url))
        assert status == 200, (url, body)
        assert "orderedItems" not in body or not body["orderedItems"], "nothing listed"


async def test_without_authorized_fetch_public_reads_are_open_but_members_only_are_not(
    open_server,
):
    server, member, stranger, suspended = open_server
    activity = await announce_in(server, "jazz")
    for url in [activity] + [server.url(f"/groups/jazz/{c}") for c in COLLECTIONS]:
        assert (await fetch(url, AS_JSON))[0] == 200, url
    # A members-only group is always in authorized-fetch mode.
    url = server.url("/groups/circle/followers")
    assert (await fetch(url, AS_JSON))[0] == 401
    assert (await fetch(url, signed_get(stranger, "eve", url)))[0] == 403
    assert (await fetch(url, signed_get(suspended, "mallory", url)))[0] == 403
    status, body = await fetch(url, signed_get(member, "carol", url))
    assert status == 200 and body["totalItems"] == 1
