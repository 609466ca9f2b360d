"""Held posts and the moderation log: a held post reaches nobody until a moderator approves it
with `held approve`, then every member's server gets it in its software's shape; a rejected
one is never announced; each decision is in `modlog`.

The hold itself is what a limited domain's post gets (service.held.hold_post, called by the
inbound path); here it is called directly with a real member's Create, so the approval path
is exercised on its own, through the admin CLI as a separate process beside a running server.
"""

from __future__ import annotations

import json

import pytest
import pytest_asyncio

from fedgroup.service import held
from fedgroup.storage.models import Activity, Group, HeldPost, HeldState, StoredObject
from tests.fakes.members import join, start_remote
from tests.fakes.process import AdminCli
from tests.fakes.server import FedgroupServer
from tests.fakes.software import lemmy_inner, mastodon_boost_of
from tests.test_cli_groups import assert_one_error_line
from tests.test_conversations import announce_of, mastodon_mention


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory):
    async with FedgroupServer(tmp_path_factory.mktemp("held")) as server:
        await server.create_group("jazz")
        author = await start_remote("mastodon", "alice")
        masto = await start_remote("mastodon", "carol")
        lemmy = await start_remote("lemmy", "bob")
        try:
            for remote, name in ((author, "alice"), (masto, "carol"), (lemmy, "bob")):
                await join(server, remote, name, "jazz")
            yield server, author, masto, lemmy
        finally:
            for remote in (author, masto, lemmy):
                await remote.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_held_post_is_announced_only_once_approved_and_rejected_never(world):
    server, author, masto, lemmy = world
    group = await Group.get(name="jazz")
    kept = mastodon_mention(author, server, "jazz")
    refused = mastodon_mention(author, server, "jazz")
    for create in (kept, refused):
        await held.hold_post(group, create, create["object"], "limited domain")
        await held.hold_post(group, create, create["object"], "limited domain")  # replayed
    assert await HeldPost.filter(group=group, state=HeldState.HELD).count() == 2
    assert not await StoredObject.exists(ap_id=kept["object"]["id"])
    assert not await Activity.filter(inbound=False, type="Announce").exists()

    admin = AdminCli.beside(server.settings)
    listed = json.loads((await admin("held", "list", "jazz", "--json")).stdout)
    assert [(h["post"], h["author"], h["reason"]) for h in listed] == [
        (kept["object"]["id"], author.actor_url("alice"), "limited domain"),
        (refused["object"]["id"], author.actor_url("alice"), "limited domain"),
    ]
    approved = await admin("held", "approve", "jazz", str(listed[0]["id"]))
    assert approved.stdout == (
        f"approved {kept['object']['id']}: announced to the members of jazz\n"
    )
    await admin("held", "reject", "jazz", refused["object"]["id"], "--reason", "off topic")

    wrapped = await lemmy.wait_for(lambda p: announce_of(p, inner_id=kept["id"]), timeout=10)
    assert lemmy_inner(wrapped, server.group_url("jazz")) == kept
    boost = await masto.wait_for(lambda p: announce_of(p, object_id=kept["object"]["id"]), 10)
    assert (await mastodon_boost_of(boost))["id"] == kept["object"]["id"]
    assert await StoredObject.exists(ap_id=kept["object"]["id"], group=group)

    again = await admin("held", "approve", "jazz", str(listed[0]["id"]), check=False)
    assert again.returncode == 1
    assert again.stderr == f"error: held post {listed[0]['id']} was already approved by admin\n"
    assert not await HeldPost.exists(state=HeldState.HELD)
    # The rejected post was never announced to anyone, nor stored as a group post.
    assert not await StoredObject.exists(ap_id=refused["object"]["id"])
    for remote in (masto, lemmy):
        assert not [p for p in remote.received if refused["object"]["id"] in p.body.decode()]

    log = json.loads((await admin("modlog", "jazz", "--json")).stdout)
    assert [(e["action"], e["moderator"], e["target"], e["reason"]) for e in log[:4]] == [
        ("reject_post", "admin", refused["object"]["id"], "off topic"),
        ("approve_post", "admin", kept["object"]["id"], ""),
        ("hold_post", "automatic", refused["object"]["id"], "limited domain"),
        ("hold_post", "automatic", kept["object"]["id"], "limited domain"),
    ]
    assert all(e["group"] == "jazz" and e["at"] for e in log)


@pytest.mark.asyncio(loop_scope="module")
async def test_approving_the_post_of_someone_banned_meanwhile_is_refused(world):
    server, author, _masto, _lemmy = world
    group = await Group.get(name="jazz")
    create = mastodon_mention(author, server, "jazz")
    row = await held.hold_post(group, create, create["object"], "limited domain")
    admin = AdminCli.beside(server.settings)
    await admin("bans", "add", "jazz", author.actor_url("alice"))
    result = await admin("held", "approve", "jazz", str(row.id), check=False)
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "cannot approve", "is banned from jazz")
    assert (await HeldPost.get(id=row.id)).state == HeldState.HELD
    assert not await StoredObject.exists(ap_id=create["object"]["id"])
