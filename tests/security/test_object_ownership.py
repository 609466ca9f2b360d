"""Class 4: someone else's object id.

An object belongs to the first author it was verified for; its id must be on its author's
origin; a tombstone comes only from the object's origin; an object on another host is
fetched from there, never attributed to whoever sent it. Alice posts from `good` (a
FEP-1b12 server, so the group's announcements carry content); bob is her neighbour on the
same server and mallory posts from `evil`; all three are members.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fedgroup.storage.models import StoredObject
from tests.fakes import FakeInstance
from tests.fakes.members import join, post_to_group, start_remote, wait_handled
from tests.fakes.sender import post_signed

from .support import AS, PUBLIC

FORGED = "<p>words alice never wrote</p>"


@pytest.fixture
async def good(server) -> AsyncIterator[FakeInstance]:
    remote = await start_remote("lemmy", "alice", "bob")
    await join(server, remote, "alice", "jazz")
    await join(server, remote, "bob", "jazz")
    yield remote
    await remote.close()


@pytest.fixture
async def evil(server) -> AsyncIterator[FakeInstance]:
    remote = await start_remote("mastodon", "mallory")
    await join(server, remote, "mallory", "jazz")
    yield remote
    await remote.close()


def create(sender: FakeInstance, name: str, server, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": AS,
        "id": sender.url(f"/activities/{uuid.uuid4()}"),
        "type": "Create",
        "actor": sender.actor_url(name),
        "to": [PUBLIC, server.group_url("jazz")],
        "object": obj,
    }


def note(object_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": object_id, "type": "Note", "content": FORGED, "to": [PUBLIC], **fields}


async def refused(server, sender: FakeInstance, name: str, activity: dict[str, Any]) -> str:
    """Send it (a valid signed request: 202), and return why the group did nothing with it."""
    answer = await post_signed(sender, server.url("/inbox"), activity, actor=name)
    assert answer.status == 202, answer.body
    row = await wait_handled(activity["id"])
    assert row.error and row.error.startswith("ignored: "), row.error
    return row.error


def nothing_forged_sent(*remotes: FakeInstance) -> None:
    for remote in remotes:
        assert not any(FORGED in p.body.decode(errors="replace") for p in remote.received)


@pytest.mark.parametrize("attributed_to", ["mallory", "alice", None])
async def test_a_create_reusing_another_hosts_object_id_is_refused(
    server, good, evil, attributed_to
):
    """Mallory (on evil) sends a Create whose object has the id of alice's post on good:
    the copy is not believed; the post is fetched from good, where it is alice's."""
    original = await post_to_group(server, good, "alice", "jazz", "<p>alice's own words</p>")
    fields = {}
    if attributed_to:
        owner = evil if attributed_to == "mallory" else good
        fields["attributedTo"] = owner.actor_url(attributed_to)
    activity = create(evil, "mallory", server, note(original.ap_id, **fields))
    reason = await refused(server, evil, "mallory", activity)
    assert "attributed to" in reason and good.actor_url("alice") in reason
    stored = await StoredObject.get(ap_id=original.ap_id)
    assert (stored.attributed_to, stored.content_html) == (
        good.actor_url("alice"),
        "<p>alice's own words</p>",
    )
    nothing_forged_sent(good, evil)


@pytest.mark.parametrize("attributed_to", ["bob", "alice", None])
async def test_a_neighbour_cannot_take_over_a_post_id_on_the_same_host(
    server, good, attributed_to
):
    """Bob, on alice's own server, reuses her post's id: the id is on his origin too, but
    the post is alice's, the first author it was verified for."""
    original = await post_to_group(server, good, "alice", "jazz", "<p>alice's own words</p>")
    fields = {"attributedTo": good.actor_url(attributed_to)} if attributed_to else {}
    reason = await refused(
        server, good, "bob", create(good, "bob", server, note(original.ap_id, **fields))
    )
    assert "alice" in reason
    assert (await StoredObject.get(ap_id=original.ap_id)).content_html == (
        "<p>alice's own words</p>"
    )
    update = create(good, "bob", server, note(original.ap_id, **fields))
    update["type"] = "Update"
    await refused(server, good, "bob", update)
    assert (await StoredObject.get(ap_id=original.ap_id)).content_html == (
        "<p>alice's own words</p>"
    )
    nothing_forged_sent(good)


@pytest.mark.parametrize("host", ["good", "third"])
async def test_an_embedded_object_on_another_host_is_never_the_senders(
    server, good, evil, host
):
    """Mallory embeds an object whose id is elsewhere and names no author: it is fetched
    from its own host (which does not serve it, or serves it as alice's), never stored as
    mallory's."""
    where = good if host == "good" else None
    object_id = (
        good.url(f"/users/alice/statuses/{uuid.uuid4()}")
        if where
        else f"http://127.0.0.1:9/notes/{uuid.uuid4()}"
    )
    if where:
        good.serve(
            object_id.removeprefix(good.base_url),
            {"@context": AS, **note(object_id, attributedTo=good.actor_url("alice"))},
        )
    activity = create(evil, "mallory", server, note(object_id))
    await refused(server, evil, "mallory", activity)
    assert not await StoredObject.exists(ap_id=object_id)
    nothing_forged_sent(good, evil)


@pytest.mark.parametrize("form", ["bare id", "embedded tombstone", "third host"])
async def test_a_delete_from_another_origin_leaves_no_tombstone(server, good, evil, form):
    """Mallory deletes an id in alice's namespace before alice posts it: no tombstone, and
    alice's post is announced when it comes."""
    object_id = good.url(f"/users/alice/statuses/pre-{uuid.uuid4().hex[:8]}")
    target: Any = object_id
    if form == "embedded tombstone":
        target = {"id": object_id, "type": "Tombstone"}
    delete = {
        "@context": AS,
        "id": evil.url(f"/deletes/{uuid.uuid4()}"),
        "type": "Delete",
        "actor": evil.actor_url("mallory"),
        "to": [PUBLIC],
        "object": target if form != "third host" else f"http://127.0.0.1:9/{uuid.uuid4()}",
    }
    await refused(server, evil, "mallory", delete)
    assert not await StoredObject.exists(deleted=True)
    # Alice's post with exactly that id still goes through.
    activity = create(
        good,
        "alice",
        server,
        {
            **note(object_id, attributedTo=good.actor_url("alice")),
            "content": "<p>mine</p>",
            "cc": [server.group_url("jazz")],
        },
    )
    answer = await post_signed(good, server.url("/inbox"), activity, actor="alice")
    assert answer.status == 202, answer.body
    row = await wait_handled(activity["id"])
    assert row.error is None, row.error
    assert (await StoredObject.get(ap_id=object_id)).content_html == "<p>mine</p>"


async def test_an_edit_may_not_hand_the_post_to_another_author(server, good):
    original = await post_to_group(server, good, "alice", "jazz", "<p>alice's own words</p>")
    edit = create(
        good,
        "alice",
        server,
        note(
            original.ap_id,
            attributedTo=good.actor_url("bob"),
            updated="2030-01-01T00:00:00Z",
        ),
    )
    edit["type"] = "Update"
    reason = await refused(server, good, "alice", edit)
    assert "attributed to" in reason
    stored = await StoredObject.get(ap_id=original.ap_id)
    assert stored.content_html == "<p>alice's own words</p>"
    assert stored.document.get("attributedTo") == good.actor_url("alice")
