"""Interop: `type` is a set in JSON-LD (`"Note"`, `["Note"]`, `["Note", "Article"]`).

Every form is handled by the member of the set we know, in the activity and in what it
embeds (a Create's object, an Undo's activity), and never raises in a handler.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fedgroup.storage.models import ActivityState, Membership, MembershipState, StoredObject
from tests.fakes import FakeInstance
from tests.fakes.members import join, start_remote, wait_handled
from tests.fakes.sender import post_signed

from .support import AS, note_create


@pytest.fixture
async def lemmy(server) -> AsyncIterator[FakeInstance]:
    """A FEP-1b12 member server (it is sent every activity about a post), alice a member."""
    remote = await start_remote("lemmy", "alice")
    await join(server, remote, "alice", "jazz")
    yield remote
    await remote.close()


async def send(server, remote: FakeInstance, activity: dict[str, Any]):
    answer = await post_signed(remote, server.url("/inbox"), activity)
    assert answer.status == 202, answer.body
    return await wait_handled(activity["id"])


async def post(server, remote: FakeInstance, kind: Any, note_type: Any) -> StoredObject:
    create = note_create(remote, server.group_url("jazz"))
    create["type"] = kind
    create["object"]["type"] = note_type
    row = await send(server, remote, create)
    assert (row.state, row.error) == (ActivityState.DONE, None)
    return await StoredObject.get(ap_id=create["object"]["id"])


@pytest.mark.parametrize(
    ("kind", "note_type"),
    [
        (["Create"], ["Note"]),
        ("Create", ["Note", "Article"]),
        (["Create"], ["Article", "Note"]),
        (["Create", "as:Create"], "Page"),
    ],
)
async def test_a_create_is_posted_whatever_the_form_of_its_types(
    server, lemmy, kind, note_type
):
    stored = await post(server, lemmy, kind, note_type)
    assert stored.type in {"Note", "Article", "Page"}
    announce = await lemmy.wait_for(
        lambda p: stored.ap_id in p.body.decode() and (p.json or {}).get("type") == "Announce"
    )
    assert announce.json["object"]["object"]["id"] == stored.ap_id


def like(remote: FakeInstance, target: str, kind: Any) -> dict[str, Any]:
    return {
        "@context": AS,
        "id": remote.url(f"/likes/{uuid.uuid4()}"),
        "type": kind,
        "actor": remote.actor_url("alice"),
        "object": target,
    }


def undo(remote: FakeInstance, inner: dict[str, Any], kind: Any) -> dict[str, Any]:
    return {
        "@context": AS,
        "id": remote.url(f"/undos/{uuid.uuid4()}"),
        "type": kind,
        "actor": remote.actor_url("alice"),
        "object": inner,
    }


@pytest.mark.parametrize(("outer", "inner"), [(["Undo"], ["Like"]), ("Undo", ["Like", "Dislike"])])
async def test_likes_and_their_undo_pass_on_whatever_the_form(server, lemmy, outer, inner):
    stored = await post(server, lemmy, "Create", "Note")
    liked = like(lemmy, stored.ap_id, inner)
    assert (await send(server, lemmy, liked)).state == ActivityState.DONE
    await lemmy.wait_for(lambda p: liked["id"] in p.body.decode())
    undone = undo(lemmy, liked, outer)
    row = await send(server, lemmy, undone)
    assert (row.state, row.error) == (ActivityState.DONE, None)
    await lemmy.wait_for(lambda p: undone["id"] in p.body.decode())


@pytest.mark.parametrize(("outer", "inner"), [(["Undo"], ["Follow"]), (["Undo"], "Follow")])
async def test_an_undo_of_a_follow_leaves_whatever_the_form(server, lemmy, outer, inner):
    follow = {
        "id": lemmy.url(f"/follows/{uuid.uuid4()}"),
        "type": inner,
        "actor": lemmy.actor_url("alice"),
        "object": server.group_url("jazz"),
    }
    row = await send(server, lemmy, undo(lemmy, follow, outer))
    assert (row.state, row.error) == (ActivityState.DONE, None)
    assert not await Membership.exists(
        actor__url=lemmy.actor_url("alice"), state=MembershipState.ACCEPTED
    )


async def test_a_delete_whose_type_is_a_list_deletes(server, lemmy):
    stored = await post(server, lemmy, "Create", ["Note"])
    delete = {
        "@context": AS,
        "id": lemmy.url(f"/deletes/{uuid.uuid4()}"),
        "type": ["Delete"],
        "actor": lemmy.actor_url("alice"),
        "object": {"id": stored.ap_id, "type": ["Tombstone"]},
    }
    row = await send(server, lemmy, delete)
    assert (row.state, row.error) == (ActivityState.DONE, None)
    assert (await StoredObject.get(ap_id=stored.ap_id)).deleted
