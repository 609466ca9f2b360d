"""Class 3: denial of service through JSON-LD.

Canonicalization (LD signatures, checked and made) runs in a worker process with a time
budget and only for documents under a size cap: whatever a document costs, every other
request is answered meanwhile. Each test asks `/healthz` every 10 ms on its own connection
while the attack runs and requires every answer within 100 ms; the answer to the attack is
the right 4xx and nothing of it is stored.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fedgroup.activitypub import ldsig
from fedgroup.activitypub.keys import load_public_pem
from fedgroup.activitypub.vocab import has_type
from fedgroup.storage.models import Activity, Group, RemoteActor, StoredObject
from tests.fakes import FakeInstance
from tests.fakes.members import join, start_remote
from tests.fakes.process import ServerProcess
from tests.fakes.sender import post_signed
from tests.fakes.server import FedgroupServer

from .support import NOTHING, answering_fast_while, note_create, stored_counts

# /healthz latency is measured here: run alone (see the `timing` marker).
pytestmark = pytest.mark.timing


def bogus_forward(remote: FakeInstance, group_url: str, cc: int) -> dict:
    """Alice's Create with `cc` addressees and an LD signature naming her key that her key
    did not make (random bytes: only checking it costs anything), as bob forwards it."""
    activity = note_create(remote, group_url, actor="alice")
    activity["cc"] = [f"https://m{i}.example/u" for i in range(cc)]
    activity["signature"] = {
        "type": "RsaSignature2017",
        "creator": remote.key_id("alice"),
        "created": "2026-11-27T12:00:00Z",
        "signatureValue": base64.b64encode(os.urandom(256)).decode(),
    }
    return activity


async def nothing_of_alice_stored() -> None:
    assert await Activity.all().count() == 0
    assert await StoredObject.all().count() == 0
    assert await RemoteActor.filter(url__contains="/alice").count() == 0


@pytest.fixture
async def tight(tmp_path: Path) -> AsyncIterator[FedgroupServer]:
    """A server whose JSON-LD budget is one second and whose item cap lets thousands in."""
    async with FedgroupServer(
        tmp_path, ld_time_budget=1, max_json_items=20_000, max_inbox_bytes=8_388_608
    ) as srv:
        await srv.create_group("jazz")
        yield srv


@pytest.mark.parametrize("cc", [999, 1000])
async def test_a_forwarded_bogus_ld_signature_with_many_cc_is_a_401(server, remote, cc):
    activity = bogus_forward(remote, server.group_url("jazz"), cc)
    answer = await answering_fast_while(
        server.url("/healthz"),
        lambda: post_signed(remote, server.url("/inbox"), activity, key_id=remote.key_id("bob")),
    )
    assert answer.status == 401, answer.body
    assert "not by the actor" in answer.body
    await nothing_of_alice_stored()


async def test_cc_over_the_item_cap_is_a_400_before_any_ld_work(server, remote):
    activity = bogus_forward(remote, server.group_url("jazz"), 5000)
    answer = await answering_fast_while(
        server.url("/healthz"),
        lambda: post_signed(remote, server.url("/inbox"), activity, key_id=remote.key_id("bob")),
    )
    assert answer.status == 400, answer.body
    assert "more than 1000 members" in answer.body
    assert await stored_counts() == NOTHING
    assert [r.path for r in remote.requests] == []  # not even the keys were fetched


async def test_ld_work_over_its_budget_is_killed_and_refused(tight, remote):
    """Thousands of cc entries (the cap raised): canonicalization would take seconds; the
    worker is killed at one and the refusal says so. The next signature is checked by a
    fresh worker."""
    activity = bogus_forward(remote, tight.group_url("jazz"), 5000)
    answer = await answering_fast_while(
        tight.url("/healthz"),
        lambda: post_signed(remote, tight.url("/inbox"), activity, key_id=remote.key_id("bob")),
    )
    assert answer.status == 401, answer.body
    assert "not checked: JSON-LD processing over its 1 s budget" in answer.body
    await nothing_of_alice_stored()

    honest = ldsig.sign_document(
        note_create(remote, tight.group_url("jazz"), actor="alice"),
        private_key=remote.private_key,
        key_id=remote.key_id("alice"),
    )
    answer = await post_signed(remote, tight.url("/inbox"), honest, key_id=remote.key_id("bob"))
    assert answer.status == 202, answer.body


async def test_a_document_over_the_ld_size_cap_is_not_canonicalized(tmp_path, remote):
    async with FedgroupServer(tmp_path, max_ld_bytes=4096) as server:
        await server.create_group("jazz")
        activity = note_create(remote, server.group_url("jazz"), content="<p>" + "x" * 5000)
        signed = ldsig.sign_document(
            activity, private_key=remote.private_key, key_id=remote.key_id("alice")
        )
        answer = await post_signed(
            remote, server.url("/inbox"), signed, key_id=remote.key_id("bob")
        )
        assert answer.status == 401, answer.body
        assert "not checked: document over 4096 bytes" in answer.body
        await nothing_of_alice_stored()


async def refused_tags(server: FedgroupServer, remote: FakeInstance, tags: int) -> str:
    """A member's Create with `tags` entries in `tag`, sent while /healthz is watched; the
    answer's body, after checking it is a 400 and nothing was stored."""
    activity = note_create(remote, server.group_url("jazz"))
    activity["object"]["tag"] = [{"type": "Hashtag", "name": f"#t{i}"} for i in range(tags)]
    body = json.dumps(activity).encode()  # before the probe: the attacker's work is not ours
    answer = await answering_fast_while(
        server.url("/healthz"), lambda: post_signed(remote, server.url("/inbox"), body)
    )
    assert answer.status == 400, answer.body
    assert await stored_counts() == NOTHING
    return answer.body


@pytest.mark.parametrize("tags", [1001, 25_000])
async def test_a_create_with_too_many_tags_is_a_400(server, remote, tags):
    assert "JSON array with more than 1000 members" in await refused_tags(server, remote, tags)


async def test_a_create_with_100_000_tags_is_over_the_body_cap(server, remote):
    activity = note_create(remote, server.group_url("jazz"))
    activity["object"]["tag"] = [{"type": "Hashtag", "name": f"#t{i}"} for i in range(100_000)]
    body = json.dumps(activity).encode()
    answer = await answering_fast_while(
        server.url("/healthz"), lambda: post_signed(remote, server.url("/inbox"), body)
    )
    assert answer.status == 413, answer.body
    assert await stored_counts() == NOTHING


async def test_a_members_post_at_the_tag_cap_is_announced_ld_signed_off_the_loop(server):
    """A member's Create with 999 tags is a real post: the group announces it, LD-signed in
    the worker (so servers that forward it can believe it), and answers meanwhile."""
    lemmy = await start_remote("lemmy", "alice")
    try:
        await join(server, lemmy, "alice", "jazz")

        async def post_and_see_it_announced() -> dict:
            activity = note_create(lemmy, server.group_url("jazz"))
            note = activity["object"]
            note["tag"] = [{"type": "Mention", "href": server.group_url("jazz"), "name": "@jazz"}]
            note["tag"] += [{"type": "Hashtag", "name": f"#t{i}"} for i in range(998)]
            lemmy.serve(note["id"].removeprefix(lemmy.base_url), {"@context": [], **note})
            answer = await post_signed(lemmy, server.url("/inbox"), activity)
            assert answer.status == 202, answer.body
            announce = await lemmy.wait_for(
                lambda p: has_type(p.json, "Announce") and note["id"] in p.body.decode(),
                timeout=20,
            )
            return announce.json

        body = await answering_fast_while(server.url("/healthz"), post_and_see_it_announced)
        assert len(body["object"]["object"]["tag"]) == 999
        assert len(json.dumps(body)) > 30_000
        group = await Group.get(name="jazz")
        assert ldsig.verify_document(body, load_public_pem(group.public_key_pem))
    finally:
        await lemmy.close()


async def test_fedgroup_serve_answers_while_it_refuses_bogus_ld_signatures(tmp_path, remote):
    """The same attack against `fedgroup serve` as a process of its own: a burst of
    forwarded activities at the item cap, each with a bogus LD signature to check."""
    async with ServerProcess(tmp_path) as served:
        group = served.group_url("jazz")  # no group needed: all are refused at the door
        activities = [bogus_forward(remote, group, 1000) for _ in range(4)]
        answers = await answering_fast_while(
            served.url("/healthz"),
            lambda: asyncio.gather(
                *(
                    post_signed(remote, served.url("/inbox"), a, key_id=remote.key_id("bob"))
                    for a in activities
                )
            ),
        )
        assert [a.status for a in answers] == [401] * 4, answers
        await served.stop()
        assert served.read_database("SELECT count(*) FROM activities") == [(0,)]
