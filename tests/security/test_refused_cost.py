"""Class 6: refused requests cost storage.

Nothing from a request whose signature did not verify is written: not the actor its keyId
points at, not that actor's keys. Remote documents are capped in size on the way in and
stored trimmed to the fields we use (actors and members' posts alike).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from fedgroup.activitypub import ldsig
from fedgroup.activitypub.posts import POST_FIELDS
from fedgroup.storage.models import RemoteActor
from tests.fakes.members import join, post_to_group, start_remote
from tests.fakes.sender import post_signed
from tests.fakes.server import FedgroupServer

from .support import NOTHING, follow, note_create, stored_counts

STRANGER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
BIG = "x" * 700_000  # under the 1 MiB fetch cap: only storing it would cost us


def database_bytes(tmp_path: Path) -> int:
    return sum(p.stat().st_size for p in tmp_path.glob("fedgroup.sqlite3*"))


def big_actor(remote, name: str) -> None:
    remote.add_actor(name, summary=BIG, attachment=[{"type": "PropertyValue", "value": BIG[:1000]}])


async def test_wrong_signatures_with_keys_on_big_documents_store_nothing(server, remote, tmp_path):
    for n in range(12):
        big_actor(remote, f"big{n}")
    before = database_bytes(tmp_path)
    for n in range(12):
        activity = follow(remote, server.group_url("jazz"), actor=f"big{n}")
        answer = await post_signed(
            remote, server.url("/inbox"), activity, actor=f"big{n}", private_key=STRANGER
        )
        assert answer.status == 401, answer.body
    assert await stored_counts() == NOTHING
    assert database_bytes(tmp_path) - before < 64 * 1024


async def test_a_forwarded_activity_stores_nothing_for_its_embedded_signature_key(server, remote):
    """Bob forwards a Create whose LD signature names a big actor's key; it does not verify
    and the origin does not serve the activity: neither bob nor that actor is stored."""
    big_actor(remote, "big")
    activity = note_create(remote, server.group_url("jazz"), actor="big")
    signed = ldsig.sign_document(activity, private_key=STRANGER, key_id=remote.key_id("big"))
    answer = await post_signed(remote, server.url("/inbox"), signed, key_id=remote.key_id("bob"))
    assert answer.status == 401, answer.body
    assert await RemoteActor.filter(url=remote.actor_url("big")).count() == 0


async def test_a_verified_actor_is_stored_trimmed(server, remote):
    big_actor(remote, "big")
    answer = await post_signed(
        remote, server.url("/inbox"), follow(remote, server.group_url("jazz"), actor="big"),
        actor="big",
    )
    assert answer.status == 202, answer.body
    row = await RemoteActor.get(url=remote.actor_url("big"))
    assert "summary" not in row.document and "attachment" not in row.document
    assert row.document["inbox"] == remote.inbox_url("big")
    assert row.document["publicKey"][0]["publicKeyPem"] == remote.public_key_pem
    assert len(str(row.document)) < 4096


async def test_an_actor_document_over_the_fetch_cap_is_refused(tmp_path, remote):
    async with FedgroupServer(tmp_path, max_fetch_bytes=64 * 1024) as server:
        await server.create_group("jazz")
        big_actor(remote, "big")
        answer = await post_signed(
            remote, server.url("/inbox"), follow(remote, server.group_url("jazz"), actor="big"),
            actor="big",
        )
        assert answer.status == 401, answer.body
        assert answer.body == '{"error": "signature key unavailable"}'
        assert await stored_counts() == NOTHING


async def test_a_members_post_is_stored_trimmed_to_the_fields_we_use(server):
    lemmy = await start_remote("lemmy", "alice")
    try:
        await join(server, lemmy, "alice", "jazz")
        junk = {"source": {"content": BIG[:200_000]}, "preview": {"content": BIG[:200_000]}}
        post = await post_to_group(
            server, lemmy, "alice", "jazz", "<p>hello</p>", kind="Page", title="A title",
            **junk, emoji=[{"type": "Emoji", "name": f":e{i}:"} for i in range(500)],
        )
        assert set(post.document) <= POST_FIELDS
        assert {"source", "preview", "emoji"}.isdisjoint(post.document)
        assert post.document["name"] == "A title" and post.document["content"] == "<p>hello</p>"
        assert len(str(post.document)) < 2048
    finally:
        await lemmy.close()
