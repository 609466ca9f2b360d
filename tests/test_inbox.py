"""The inbox as a remote server meets it: signed POSTs over real sockets, rows in SQLite."""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from fedgroup.activitypub import ldsig, proof
from fedgroup.activitypub.multikey import encode_ed25519_public_multikey
from fedgroup.policy import Severity
from fedgroup.storage.models import Activity, DomainPolicy, Instance
from tests.fakes import FakeInstance
from tests.fakes.sender import post_signed, post_unsigned
from tests.fakes.server import FedgroupServer


def follow(remote: FakeInstance, group_url: str, actor: str = "alice") -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": remote.url(f"/activities/{uuid.uuid4()}"),
        "type": "Follow",
        "actor": remote.actor_url(actor),
        "object": group_url,
    }


def note_create(remote: FakeInstance, group_url: str, actor: str = "alice") -> dict[str, Any]:
    note_id = remote.url(f"/notes/{uuid.uuid4()}")
    return {
        "@context": ["https://www.w3.org/ns/activitystreams"],
        "id": note_id + "/activity",
        "type": "Create",
        "actor": remote.actor_url(actor),
        "to": [group_url, "https://www.w3.org/ns/activitystreams#Public"],
        "object": {
            "id": note_id,
            "type": "Note",
            "attributedTo": remote.actor_url(actor),
            "content": "<p>hello group</p>",
            "to": [group_url],
        },
    }


@pytest.fixture
async def server(tmp_path: Path):
    async with FedgroupServer(tmp_path) as srv:
        await srv.create_group("jazz")
        yield srv


@pytest.fixture
async def remote():
    async with FakeInstance() as inst:
        inst.add_actor("alice")
        inst.add_actor("bob")
        yield inst


async def stored_ids() -> list[str]:
    return [a.ap_id for a in await Activity.filter(inbound=True)]


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
async def test_signed_activity_is_stored_before_202(server, remote, scheme):
    inbox = server.group_url("jazz") + "/inbox"
    activity = follow(remote, server.group_url("jazz"))
    answer = await post_signed(remote, inbox, activity, scheme=scheme)
    assert answer.status == 202, answer.body
    row = await Activity.get(ap_id=activity["id"])
    assert row.inbound and row.type == "Follow" and row.payload == activity
    assert (await row.group).name == "jazz"
    # A peer that signs with RFC 9421 is signed to with it in return.
    instance = await Instance.get_or_none(host=remote.domain)
    learned = instance.signature_scheme if instance else None
    assert learned == ("rfc9421" if scheme == "rfc9421" else None)


async def test_shared_inbox_stores_without_group(server, remote):
    activity = follow(remote, server.group_url("jazz"))
    answer = await post_signed(remote, server.url("/inbox"), activity)
    assert answer.status == 202
    row = await Activity.get(ap_id=activity["id"])
    assert row.group_id is None


async def test_repeat_is_accepted_and_changes_nothing(server, remote):
    inbox = server.url("/inbox")
    activity = follow(remote, server.group_url("jazz"))
    assert (await post_signed(remote, inbox, activity)).status == 202
    again = await post_signed(remote, inbox, activity)
    assert again.status == 202 and "duplicate" in again.body
    assert await stored_ids() == [activity["id"]]


async def test_key_fetch_is_signed_by_the_instance_actor(server, remote):
    await post_signed(remote, server.url("/inbox"), follow(remote, server.group_url("jazz")))
    actor_gets = [r for r in remote.requests if r.method == "GET" and "/users/alice" in r.path_qs]
    assert actor_gets, "the key was never fetched"
    assert f'keyId="{server.url("/actor")}#main-key"' in actor_gets[0].headers["Signature"]


async def test_unsigned_is_refused(server, remote):
    answer = await post_unsigned(server.url("/inbox"), follow(remote, server.group_url("jazz")))
    assert answer.status == 401
    assert await stored_ids() == []


@pytest.mark.parametrize(
    ("offset", "why"), [(-4000, "too old"), (+3700, "future")], ids=["expired", "future"]
)
async def test_stale_or_future_dated_signature_is_refused(server, remote, offset, why):
    activity = follow(remote, server.group_url("jazz"))
    answer = await post_signed(remote, server.url("/inbox"), activity, now=time.time() + offset)
    assert answer.status == 401, answer.body
    assert await stored_ids() == []


async def test_body_not_matching_digest_is_refused(server, remote):
    activity = follow(remote, server.group_url("jazz"))
    forged = copy.deepcopy(activity)
    forged["object"] = server.url("/groups/other")
    answer = await post_signed(
        remote, server.url("/inbox"), activity, tamper_body=json.dumps(forged).encode()
    )
    assert answer.status == 401 and "digest" in answer.body
    assert await stored_ids() == []


async def test_signature_missing_digest_header_is_refused(server, remote):
    activity = follow(remote, server.group_url("jazz"))
    answer = await post_signed(
        remote, server.url("/inbox"), activity, scheme="rfc9421", drop_headers=("Content-Digest",)
    )
    assert answer.status == 401
    assert await stored_ids() == []


async def test_key_of_another_actor_is_refused(server, remote):
    """Bob signs an activity claiming to be Alice's; its origin doesn't serve it either."""
    activity = follow(remote, server.group_url("jazz"), actor="alice")
    answer = await post_signed(remote, server.url("/inbox"), activity, key_id=remote.key_id("bob"))
    assert answer.status == 401 and "not by the actor" in answer.body
    assert await stored_ids() == []


async def test_key_from_another_server_is_refused(server, remote):
    async with FakeInstance() as evil:
        evil.add_actor("mallory")
        activity = follow(remote, server.group_url("jazz"), actor="alice")
        answer = await post_signed(
            evil,
            server.url("/inbox"),
            activity,
            actor="mallory",
        )
    assert answer.status == 401
    assert await stored_ids() == []


async def test_activity_id_on_another_origin_is_refused(server, remote):
    activity = follow(remote, server.group_url("jazz"))
    activity["id"] = f"http://127.0.0.254:1/activities/{uuid.uuid4()}"
    answer = await post_signed(remote, server.url("/inbox"), activity)
    assert answer.status == 403
    assert await stored_ids() == []


async def test_rotated_key_is_accepted_after_one_refetch(server, remote):
    inbox = server.url("/inbox")
    assert (
        await post_signed(remote, inbox, follow(remote, server.group_url("jazz")))
    ).status == 202
    def key_fetches() -> int:
        return sum(1 for r in remote.requests if r.method == "GET" and "/users/alice" in r.path_qs)

    fetches_before = key_fetches()
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    remote.private_key = new_key
    remote.public_key_pem = (
        new_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    second = follow(remote, server.group_url("jazz"))
    answer = await post_signed(remote, inbox, second)
    assert answer.status == 202, answer.body
    assert second["id"] in await stored_ids()
    assert key_fetches() == fetches_before + 1


async def test_wrong_key_after_refetch_is_refused(server, remote):
    inbox = server.url("/inbox")
    assert (
        await post_signed(remote, inbox, follow(remote, server.group_url("jazz")))
    ).status == 202
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    activity = follow(remote, server.group_url("jazz"))
    answer = await post_signed(remote, inbox, activity, private_key=stranger)
    assert answer.status == 401
    assert activity["id"] not in await stored_ids()


async def test_forwarded_activity_with_valid_ld_signature_is_accepted(server, remote):
    """Bob forwards Alice's Create (inbox forwarding); Alice's LD signature vouches for it."""
    activity = note_create(remote, server.group_url("jazz"), actor="alice")
    signed = ldsig.sign_document(
        activity, private_key=remote.private_key, key_id=remote.key_id("alice")
    )
    answer = await post_signed(remote, server.url("/inbox"), signed, key_id=remote.key_id("bob"))
    assert answer.status == 202, answer.body
    row = await Activity.get(ap_id=activity["id"])
    assert row.payload["object"]["content"] == "<p>hello group</p>"


async def test_forwarded_activity_with_broken_ld_signature_is_refused(server, remote):
    activity = note_create(remote, server.group_url("jazz"), actor="alice")
    signed = ldsig.sign_document(
        activity, private_key=remote.private_key, key_id=remote.key_id("alice")
    )
    signed["object"]["content"] = "<p>words alice never wrote</p>"
    answer = await post_signed(remote, server.url("/inbox"), signed, key_id=remote.key_id("bob"))
    assert answer.status == 401
    assert await stored_ids() == []


async def test_forwarded_activity_with_fedify_style_proof_is_accepted(server, remote):
    """eddsa-jcs-2022 proof by a Multikey listed in assertionMethod, as Fedify attaches."""
    ed_key = ed25519.Ed25519PrivateKey.generate()
    multikey_id = remote.actor_url("carol") + "#multikey-2"
    remote.add_actor(
        "carol",
        assertionMethod=[
            {
                "id": multikey_id,
                "type": "Multikey",
                "controller": remote.actor_url("carol"),
                "publicKeyMultibase": encode_ed25519_public_multikey(ed_key.public_key()),
            }
        ],
    )
    activity = note_create(remote, server.group_url("jazz"), actor="carol")
    signed = proof.create_proof(activity, private_key=ed_key, verification_method=multikey_id)
    answer = await post_signed(remote, server.url("/inbox"), signed, key_id=remote.key_id("bob"))
    assert answer.status == 202, answer.body
    tampered = proof.create_proof(
        note_create(remote, server.group_url("jazz"), actor="carol"),
        private_key=ed_key,
        verification_method=multikey_id,
    )
    tampered["object"]["content"] = "<p>changed</p>"
    refused = await post_signed(remote, server.url("/inbox"), tampered, key_id=remote.key_id("bob"))
    assert refused.status == 401
    assert tampered["id"] not in await stored_ids()


async def test_forwarded_activity_fetched_from_origin_is_accepted(server, remote):
    activity = follow(remote, server.group_url("jazz"), actor="alice")
    remote.serve(activity["id"].removeprefix(remote.base_url), activity)
    answer = await post_signed(remote, server.url("/inbox"), activity, key_id=remote.key_id("bob"))
    assert answer.status == 202, answer.body


async def test_blocked_domain_is_refused_without_any_fetch(server, remote):
    await DomainPolicy.create(domain=remote.address, severity=Severity.SUSPEND)
    answer = await post_signed(
        remote, server.url("/inbox"), follow(remote, server.group_url("jazz"))
    )
    assert answer.status == 403
    assert [r for r in remote.requests if r.method == "GET"] == []
    assert await stored_ids() == []


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"type": "Follow"}', b'{"id": "ftp://x/1", "type": "Follow"}'],
)
async def test_malformed_activity_is_400(server, remote, body):
    answer = await post_signed(remote, server.url("/inbox"), body)
    assert answer.status == 400
    assert await stored_ids() == []


async def test_oversized_activity_is_413(tmp_path, remote):
    async with FedgroupServer(tmp_path, max_inbox_bytes=2048) as srv:
        activity = follow(remote, srv.url("/groups/x"))
        activity["padding"] = "x" * 4096
        answer = await post_signed(remote, srv.url("/inbox"), activity)
        assert answer.status == 413
        assert await Activity.all().count() == 0


async def test_unknown_group_inbox_is_404(server, remote):
    answer = await post_signed(
        remote, server.url("/groups/nobody/inbox"), follow(remote, server.group_url("nobody"))
    )
    assert answer.status == 404
