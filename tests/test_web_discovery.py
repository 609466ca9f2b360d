"""WebFinger, host-meta and NodeInfo as a remote server sees them, over a real loopback socket.

Every request here is unsigned: discovery must work for servers that have never heard of us.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from fedgroup.activitypub.keys import generate_rsa_key_pair
from fedgroup.app import create_app
from fedgroup.config import load_settings
from fedgroup.storage.models import Group, Membership, MembershipState, RemoteActor
from tests.fakes.template_db import fresh_database

BASE = "https://groups.example"
ACTOR = f"{BASE}/groups/jazzpiano"
NODEINFO_21 = "http://nodeinfo.diaspora.software/ns/schema/2.1"

_KEYS = generate_rsa_key_pair()


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    """The real application on a loopback port with its own SQLite file and one group.

    The client is closed here, in the context that opened the database: tortoise keeps
    connections in a ContextVar, and closing from another task's context would leak them.
    """
    settings = load_settings(
        environ={
            "FEDGROUP_BASE_URL": BASE,
            "FEDGROUP_DATABASE_URL": f"sqlite://{fresh_database(tmp_path / 'db.sqlite3')}",
        }
    )
    test_client = await aiohttp_client(create_app(settings))
    await Group.create(
        name="jazzpiano",
        display_name="Jazz piano",
        private_key_pem=_KEYS[0],
        public_key_pem=_KEYS[1],
    )
    yield test_client
    await test_client.close()


async def _webfinger(client: TestClient, resource: str | None) -> tuple[int, str, Any]:
    params = {} if resource is None else {"resource": resource}
    resp = await client.get("/.well-known/webfinger", params=params)
    return resp.status, resp.content_type, await resp.json(content_type=None)


def _self_link(doc: dict[str, Any]) -> dict[str, Any]:
    return next(link for link in doc["links"] if link["rel"] == "self")


async def test_webfinger_acct_points_at_group_actor(client: TestClient) -> None:
    status, ctype, doc = await _webfinger(client, "acct:jazzpiano@groups.example")
    assert status == 200
    assert ctype == "application/jrd+json"
    assert doc["subject"] == "acct:jazzpiano@groups.example"
    assert ACTOR in doc["aliases"]
    link = _self_link(doc)
    assert link == {"rel": "self", "type": "application/activity+json", "href": ACTOR}
    profile = [ln for ln in doc["links"] if ln["rel"] == "http://webfinger.net/rel/profile-page"]
    assert profile and profile[0]["type"] == "text/html"


async def test_webfinger_by_actor_url(client: TestClient) -> None:
    status, _, doc = await _webfinger(client, ACTOR)
    assert status == 200
    assert doc["subject"] == "acct:jazzpiano@groups.example"
    assert _self_link(doc)["href"] == ACTOR


async def test_webfinger_without_acct_scheme(client: TestClient) -> None:
    """Some clients send `name@host` bare; it means the same account."""
    status, _, doc = await _webfinger(client, "jazzpiano@groups.example")
    assert status == 200
    assert _self_link(doc)["href"] == ACTOR


@pytest.mark.parametrize(
    "resource",
    [
        "acct:JazzPiano@groups.example",
        "acct:jazzpiano@GROUPS.Example",
        "ACCT:jazzpiano@groups.example",
    ],
)
async def test_webfinger_is_case_insensitive(client: TestClient, resource: str) -> None:
    status, _, doc = await _webfinger(client, resource)
    assert status == 200
    assert doc["subject"] == "acct:jazzpiano@groups.example"
    assert _self_link(doc)["href"] == ACTOR


async def test_webfinger_unknown_name_is_404_json(client: TestClient) -> None:
    status, ctype, doc = await _webfinger(client, "acct:nosuch@groups.example")
    assert status == 404
    assert ctype == "application/json"
    assert isinstance(doc["error"], str) and doc["error"]


@pytest.mark.parametrize(
    "resource",
    [
        "acct:jazzpiano@other.example",
        "https://other.example/groups/jazzpiano",
        f"{BASE}/users/jazzpiano",
    ],
)
async def test_webfinger_other_host_or_path_is_404(client: TestClient, resource: str) -> None:
    status, _, doc = await _webfinger(client, resource)
    assert status == 404
    assert "error" in doc


@pytest.mark.parametrize(
    "resource", ["acct:jazzpiano", "acct:@groups.example", "acct:a@b@groups.example", "mailto:x"]
)
async def test_webfinger_malformed_resource_is_400(client: TestClient, resource: str) -> None:
    status, ctype, doc = await _webfinger(client, resource)
    assert status == 400
    assert ctype == "application/json"
    assert "error" in doc


@pytest.mark.parametrize("resource", [None, "", "   "])
async def test_webfinger_missing_resource_is_400(client: TestClient, resource: str | None) -> None:
    status, _, doc = await _webfinger(client, resource)
    assert status == 400
    assert "resource" in doc["error"]


@pytest.mark.parametrize("resource", ["acct:groups.example@groups.example", f"{BASE}/actor"])
async def test_webfinger_instance_actor(client: TestClient, resource: str) -> None:
    """Authorized-fetch servers look up the key owner of our signed GETs this way."""
    status, _, doc = await _webfinger(client, resource)
    assert status == 200
    assert _self_link(doc)["href"] == f"{BASE}/actor"


async def test_host_meta_points_at_webfinger(client: TestClient) -> None:
    resp = await client.get("/.well-known/host-meta")
    assert resp.status == 200
    assert resp.content_type == "application/xrd+xml"
    root = ET.fromstring(await resp.text())
    ns = "{http://docs.oasis-open.org/ns/xri/xrd-1.0}"
    assert root.tag == f"{ns}XRD"
    links = root.findall(f"{ns}Link")
    assert [(ln.get("rel"), ln.get("template")) for ln in links] == [
        ("lrdd", f"{BASE}/.well-known/webfinger?resource={{uri}}")
    ]


async def test_nodeinfo_discovery_and_document(client: TestClient) -> None:
    resp = await client.get("/.well-known/nodeinfo")
    assert resp.status == 200
    links = (await resp.json())["links"]
    assert links == [
        {"rel": NODEINFO_21, "href": f"{BASE}/nodeinfo/2.1"},
        # FEP-2677: the Application actor, fetchable unsigned, whose key signs our fetches.
        {"rel": "https://www.w3.org/ns/activitystreams#Application", "href": f"{BASE}/actor"},
    ]
    resp = await client.get("/actor", headers={"Accept": "application/activity+json"})
    assert resp.status == 200
    actor = await resp.json(content_type=None)
    assert actor["type"] == "Application" and actor["id"] == f"{BASE}/actor"
    assert actor["publicKey"]["id"] == f"{BASE}/actor#main-key"

    resp = await client.get("/nodeinfo/2.1")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["version"] == "2.1"
    assert doc["software"]["name"] == "fedgroup"
    assert isinstance(doc["software"]["version"], str) and doc["software"]["version"]
    assert doc["protocols"] == ["activitypub"]
    assert doc["services"] == {"inbound": [], "outbound": []}
    assert isinstance(doc["openRegistrations"], bool)
    assert doc["usage"]["users"]["total"] == 1
    assert doc["usage"]["localPosts"] == 0
    assert isinstance(doc["metadata"], dict)


async def test_nodeinfo_usage_counts_groups_and_accepted_members(client: TestClient) -> None:
    group = await Group.get(name="jazzpiano")
    await Group.create(name="second", private_key_pem=_KEYS[0], public_key_pem=_KEYS[1])
    for i, state in enumerate([MembershipState.ACCEPTED, MembershipState.PENDING]):
        actor = await RemoteActor.create(
            url=f"https://social.example/users/u{i}",
            host="social.example",
            inbox=f"https://social.example/users/u{i}/inbox",
        )
        await Membership.create(group=group, actor=actor, state=state)
    doc = await (await client.get("/nodeinfo/2.1")).json()
    assert doc["usage"]["users"]["total"] == 2
    assert doc["metadata"]["members"] == 1
