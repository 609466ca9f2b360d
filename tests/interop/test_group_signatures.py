"""HTTP signatures between fedgroup and Fedify, in both of Fedify's schemes, both ways.

fedgroup must verify what Fedify signs with RFC 9421 and with draft-cavage on the first knock
(a refusal would make Fedify knock twice and is logged by fedgroup as "inbox refused"), and
Fedify must verify what fedgroup signs (a peer records an activity only after verifying it,
and logs anything it refused). Requests that are unsigned or altered after signing are
refused with 401 and leave nothing behind.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp

from tests.fakes.process import ServerProcess

from .conftest import StartPeers, assert_nothing_refused, join_group
from .peer_harness import FedifyPeer, of_type

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
TIMEOUT = 15.0


def follow_of(peer: FedifyPeer, group_url: str) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{peer.actor_url}/activities/{uuid.uuid4()}",
        "type": "Follow",
        "actor": peer.actor_url,
        "object": group_url,
    }


def inbox_refusals(fedgroup: ServerProcess) -> list[str]:
    return [line for line in fedgroup.log_text().splitlines() if "inbox refused" in line]


async def fetch_activity(url: str) -> dict[str, Any]:
    headers = {"Accept": "application/activity+json"}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers) as response:
            assert response.status == 200, f"GET {url}: {response.status}"
            return dict(await response.json(content_type=None))


async def test_both_fedify_schemes_verify_first_time_and_fedify_verifies_ours(
    fedgroup: ServerProcess, start_fedify_peers: StartPeers
) -> None:
    await fedgroup.admin.create_group("jazz")
    group_url = fedgroup.group_url("jazz")
    alice, carol = await start_fedify_peers(
        ("alice", "127.0.0.2", {"first_knock": "rfc9421"}),
        ("carol", "127.0.0.3", {"first_knock": "cavage", "software": "lemmy"}),
    )
    # Fedify's own deliveries, each in its first-knock scheme.
    await join_group(alice, fedgroup, "jazz")
    await join_group(carol, fedgroup, "jazz")
    assert inbox_refusals(fedgroup) == []
    inbox_posts = [line for line in fedgroup.log_text().splitlines() if "method=POST" in line]
    assert len(inbox_posts) == 2, inbox_posts  # one knock each, no fallback re-send

    # The same through the raw path, so the scheme on the wire is certain.
    for peer, scheme in ((alice, "cavage"), (carol, "rfc9421"), (alice, "rfc9421")):
        follow = follow_of(peer, group_url)
        answer = await peer.send_raw(fedgroup.shared_inbox_url, follow, sign=scheme)
        expected_header = "signature-input" if scheme == "rfc9421" else "signature"
        assert expected_header in answer.request_headers
        assert answer.status == 202, answer.body
        await peer.wait_for_received(of_type("Accept", object_id=follow["id"]), TIMEOUT)
    assert inbox_refusals(fedgroup) == []

    # Everything fedgroup sent was verified by Fedify (else it would not be recorded), in the
    # scheme each peer signs with itself: fedgroup answers a server in its own scheme ...
    for peer, scheme in ((alice, "rfc9421"), (carol, "cavage")):
        for entry in await peer.received():
            assert entry["actor"] == group_url
            assert entry["signature_scheme"] == scheme, entry["id"]
        # ... and nothing we sent was refused or failed verification.
        await assert_nothing_refused(peer)


async def test_unsigned_and_tampered_posts_are_refused_and_leave_nothing(
    fedgroup: ServerProcess, start_fedify_peers: StartPeers
) -> None:
    await fedgroup.admin.create_group("jazz")
    group_url = fedgroup.group_url("jazz")
    alice, bob = await start_fedify_peers(("alice", "127.0.0.2", {}), ("bob", "127.0.0.3", {}))
    await join_group(alice, fedgroup, "jazz")
    await join_group(bob, fedgroup, "jazz")

    # A real note of alice's, published but sent to nobody yet; its Create is fetchable.
    posted = await alice.post("<p>the real words</p>", to=[PUBLIC])
    create = await fetch_activity(posted.activity_id)
    cc = create.get("cc", [])
    create["cc"] = [*([cc] if isinstance(cc, str) else cc), group_url]

    unsigned = await alice.send_raw(fedgroup.shared_inbox_url, create, sign="none")
    assert unsigned.status == 401, unsigned.body
    tampered = await alice.send_raw(fedgroup.shared_inbox_url, create, sign="tamper")
    assert tampered.status == 401, tampered.body
    assert len(inbox_refusals(fedgroup)) == 2

    await asyncio.sleep(2)
    assert [e for e in await bob.received() if e["type"] == "Announce"] == []

    # Nothing was stored: the same id, now signed, is new to fedgroup, not a duplicate.
    genuine = await alice.send_raw(fedgroup.shared_inbox_url, create, sign="rfc9421")
    assert genuine.status == 202, genuine.body
    assert '"accepted"' in genuine.body
    announce = await bob.wait_for_received(of_type("Announce", object_id=posted.note_id), TIMEOUT)
    assert announce["object"]["content"] == "<p>the real words</p>"
    await asyncio.sleep(1)
    announces = [e for e in await bob.received() if e["type"] == "Announce"]
    assert len(announces) == 1
    await assert_nothing_refused(bob)
