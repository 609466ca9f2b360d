"""Class 1: taking over an actor through the key fetch.

A document is believed only as served at its own id; a key counts only when its owner's own
document, fetched at the owner's id, lists it; actor rows are written only from a document
fetched at that actor's id; an actor on one host never writes a key record for another.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fedgroup.storage.models import RemoteActor, RemoteKey
from tests.fakes import FakeInstance
from tests.fakes.sender import post_signed

from .support import follow, inbound_ids, note_create

ATTACKER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ATTACKER_PEM = (
    ATTACKER_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
ATTACKER_INBOX = "http://127.0.0.254:9/inbox"


def person(actor_id: str, key_id: str, owner: str | None = None) -> dict[str, Any]:
    """An actor-shaped document listing the attacker's key."""
    return {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": actor_id,
        "type": "Person",
        "preferredUsername": "alice",
        "inbox": ATTACKER_INBOX,
        "publicKey": {"id": key_id, "owner": owner or actor_id, "publicKeyPem": ATTACKER_PEM},
    }


@pytest.fixture
async def known_alice(server, remote):
    """Alice has talked to us before: her actor row and key are cached."""
    activity = follow(remote, server.group_url("jazz"))
    answer = await post_signed(remote, server.url("/inbox"), activity)
    assert answer.status == 202, answer.body
    return remote.actor_url("alice")


async def assert_alice_intact(remote: FakeInstance) -> None:
    row = await RemoteActor.get(url=remote.actor_url("alice"))
    assert row.inbox == remote.inbox_url("alice"), "the actor's inbox was replaced"
    key = await RemoteKey.get(key_id=remote.key_id("alice"))
    assert (key.owner, key.public_key) == (remote.actor_url("alice"), remote.public_key_pem)


def _upload(remote: FakeInstance, name: str = "a.json") -> str:
    return remote.url(f"/uploads/{name}")


ATTACKS = {
    # An uploaded file that claims to be alice and lists a key under its own URL.
    "file-claims-the-actor": lambda r: (
        _upload(r) + "#main-key",
        person(r.actor_url("alice"), _upload(r) + "#main-key", owner=r.actor_url("alice")),
    ),
    # The same file listing the attacker's key under alice's own key id.
    "file-reuses-the-actors-key-id": lambda r: (
        _upload(r) + "#main-key",
        person(r.actor_url("alice"), r.key_id("alice")),
    ),
    # The key id itself is alice's URL with another fragment, served by the file's claim.
    "file-with-fragment-key": lambda r: (
        _upload(r) + "#k",
        person(r.actor_url("alice"), _upload(r) + "#k", owner=r.actor_url("alice")),
    ),
    # A Pleroma-style key document naming alice as owner: alice never listed it.
    "key-document-naming-the-actor": lambda r: (
        _upload(r),
        {"id": _upload(r), "type": "Key", "owner": r.actor_url("alice"),
         "publicKeyPem": ATTACKER_PEM},
    ),
}


@pytest.mark.parametrize("form", sorted(ATTACKS))
async def test_a_document_claiming_to_be_the_actor_is_not_believed(
    server, remote, known_alice, form
):
    key_id, document = ATTACKS[form](remote)
    remote.serve(key_id.removeprefix(remote.base_url).split("#")[0], document)
    activity = note_create(remote, server.group_url("jazz"))
    answer = await post_signed(
        remote, server.url("/inbox"), activity, key_id=key_id, private_key=ATTACKER_KEY
    )
    assert answer.status == 401, answer.body
    assert activity["id"] not in await inbound_ids()
    await assert_alice_intact(remote)
    assert not await RemoteKey.filter(key_id__startswith=_upload(remote)).exists()


async def test_a_redirect_to_such_a_document_is_not_believed(server, remote, known_alice):
    remote.serve("/uploads/a.json", person(remote.actor_url("alice"), remote.url("/keys/1")))
    remote.redirect("/keys/1", "/uploads/a.json")
    activity = note_create(remote, server.group_url("jazz"))
    answer = await post_signed(
        remote, server.url("/inbox"), activity, key_id=remote.url("/keys/1"),
        private_key=ATTACKER_KEY,
    )
    assert answer.status == 401, answer.body
    await assert_alice_intact(remote)


async def test_an_unknown_actor_is_not_created_from_another_document(server, remote):
    """Bob never talked to us; a file claiming to be him creates no row for him."""
    remote.serve("/uploads/b.json", person(remote.actor_url("bob"), _upload(remote, "b.json")))
    activity = follow(remote, server.group_url("jazz"), actor="bob")
    answer = await post_signed(
        remote, server.url("/inbox"), activity, key_id=_upload(remote, "b.json"),
        private_key=ATTACKER_KEY,
    )
    assert answer.status == 401, answer.body
    assert not await RemoteActor.filter(url=remote.actor_url("bob")).exists()
    assert await RemoteKey.all().count() == 0


async def test_an_actor_at_an_odd_path_cannot_write_other_actors_keys(server, remote, known_alice):
    """A self-consistent 'actor' at an upload path may speak for itself, never for alice."""
    upload = _upload(remote)
    document = person(upload, upload + "#main-key")
    document["publicKey"] = [
        {"id": upload + "#main-key", "owner": upload, "publicKeyPem": ATTACKER_PEM},
        {"id": remote.key_id("alice"), "owner": upload, "publicKeyPem": ATTACKER_PEM},
    ]
    remote.serve("/uploads/a.json", document)
    as_itself = note_create(remote, server.group_url("jazz"))
    as_itself["actor"] = upload
    answer = await post_signed(
        remote, server.url("/inbox"), as_itself, key_id=upload + "#main-key",
        private_key=ATTACKER_KEY,
    )
    assert answer.status == 202, answer.body
    await assert_alice_intact(remote)
    as_alice = note_create(remote, server.group_url("jazz"))
    answer = await post_signed(
        remote, server.url("/inbox"), as_alice, key_id=remote.key_id("alice"),
        private_key=ATTACKER_KEY,
    )
    assert answer.status == 401, answer.body
    await assert_alice_intact(remote)


async def test_an_actor_on_one_host_never_writes_a_key_for_another(server, remote):
    async with FakeInstance() as evil:
        evil.add_actor(
            "mallory",
            publicKey=[
                {"id": evil.key_id("mallory"), "owner": evil.actor_url("mallory"),
                 "publicKeyPem": evil.public_key_pem},
                {"id": remote.key_id("alice"), "owner": evil.actor_url("mallory"),
                 "publicKeyPem": evil.public_key_pem},
            ],
        )
        answer = await post_signed(
            evil, server.url("/inbox"), follow(evil, server.group_url("jazz"), actor="mallory"),
            actor="mallory",
        )
        assert answer.status == 202, answer.body
        assert not await RemoteKey.filter(key_id=remote.key_id("alice")).exists()
        row = await RemoteActor.get(url=evil.actor_url("mallory"))
        assert [k["id"] for k in row.document["publicKey"]] == [evil.key_id("mallory")]
        # And signing as alice with that key id is checked against alice's own document.
        forged = note_create(remote, server.group_url("jazz"))
        answer = await post_signed(
            remote, server.url("/inbox"), forged, key_id=remote.key_id("alice"),
            private_key=evil.private_key,
        )
        assert answer.status == 401, answer.body
        assert forged["id"] not in await inbound_ids()


async def test_a_key_under_the_actors_path_reached_through_its_stub_still_works(server, remote):
    """GoToSocial serves `/users/NAME/main-key` as a stub whose id is the actor: the actor's
    own document, fetched at its id, lists that key, so it is accepted."""
    key_id = remote.actor_url("carol") + "/main-key"
    remote.add_actor(
        "carol",
        publicKey={"id": key_id, "owner": remote.actor_url("carol"),
                   "publicKeyPem": remote.public_key_pem},
    )
    remote.serve(
        "/users/carol/main-key",
        {"id": remote.actor_url("carol"), "type": "Person",
         "publicKey": {"id": key_id, "owner": remote.actor_url("carol"),
                       "publicKeyPem": remote.public_key_pem}},
    )
    activity = follow(remote, server.group_url("jazz"), actor="carol")
    answer = await post_signed(remote, server.url("/inbox"), activity, key_id=key_id)
    assert answer.status == 202, answer.body
    assert (await RemoteKey.get(key_id=key_id)).owner == remote.actor_url("carol")
