"""The Group actor, its HTML page, its collections and images, fetched without any signature.

The actor is compared with what Lemmy's parser reads (a real Lemmy group document, kept in
the shared fixtures) and with what Mastodon requires before it lets anyone follow a Group.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fedgroup.activitypub.keys import generate_rsa_key_pair
from fedgroup.app import create_app
from fedgroup.config import load_settings
from fedgroup.storage.models import (
    Activity,
    Group,
    Membership,
    MembershipMode,
    MembershipState,
    RemoteActor,
    StoredObject,
    Visibility,
)
from tests.fakes.fixtures import Corpus
from tests.fakes.template_db import fresh_database

BASE = "https://groups.example"
AS_JSON = "application/activity+json"
LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
LEMMY_GROUP = "lemmy/objects/group.json"  # in the conformance corpus
# Keys in Lemmy's own Group that describe optional content (or Lemmy-only features), not
# structure its parser needs: a group without a picture or language tags is still a group.
LEMMY_OPTIONAL = {"description", "source", "mediaType", "icon", "image", "language", "tag"}

_KEYS = generate_rsa_key_pair()


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    """The real app on loopback with a fresh SQLite file; closed in the context that opened it."""
    settings = load_settings(
        environ={
            "FEDGROUP_BASE_URL": BASE,
            "FEDGROUP_DATABASE_URL": f"sqlite://{fresh_database(tmp_path / 'db.sqlite3')}",
        }
    )
    test_client = await aiohttp_client(create_app(settings))
    yield test_client
    await test_client.close()


async def make_group(name: str = "jazzpiano", **fields: Any) -> Group:
    return await Group.create(
        name=name, private_key_pem=_KEYS[0], public_key_pem=_KEYS[1], **fields
    )


async def add_members(group: Group, state: MembershipState, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        actor = await RemoteActor.create(
            url=f"https://social.example/users/u{i}",
            host="social.example",
            inbox=f"https://social.example/users/u{i}/inbox",
        )
        await Membership.create(group=group, actor=actor, state=state)


async def get_json(client: TestClient, path: str, accept: str = AS_JSON) -> tuple[int, Any]:
    resp = await client.get(path, headers={"Accept": accept})
    return resp.status, await resp.json(content_type=None)


# --- the actor -----------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [AS_JSON, LD_JSON, f"{AS_JSON}, application/ld+json"])
async def test_actor_served_for_each_activitypub_accept(client: TestClient, accept: str) -> None:
    await make_group(display_name="Jazz piano")
    resp = await client.get("/groups/jazzpiano", headers={"Accept": accept})
    assert resp.status == 200
    assert resp.content_type == "application/activity+json"
    assert "Accept" in resp.headers.get("Vary", "")
    doc = json.loads(await resp.text())
    assert doc["id"] == f"{BASE}/groups/jazzpiano"
    assert doc["type"] == "Group"


async def test_actor_has_every_structural_key_lemmy_has(
    client: TestClient, conformance_corpus: Corpus
) -> None:
    lemmy = conformance_corpus.load(LEMMY_GROUP)
    await make_group(display_name="Jazz piano", summary="Chords and voicings")
    _, doc = await get_json(client, "/groups/jazzpiano", LD_JSON)
    missing = set(lemmy) - LEMMY_OPTIONAL - set(doc)
    assert not missing, f"Lemmy's parser would miss {sorted(missing)}"
    for key in ("inbox", "outbox", "followers", "featured", "attributedTo"):
        assert isinstance(doc[key], str) and doc[key].startswith(BASE + "/groups/jazzpiano/")
    assert set(doc["publicKey"]) == set(lemmy["publicKey"])
    assert set(doc["endpoints"]) == set(lemmy["endpoints"])
    assert isinstance(doc["postingRestrictedToMods"], bool)
    assert doc["attributedTo"] == doc["moderators"]
    assert doc["summary"] == "<p>Chords and voicings</p>"


async def test_actor_meets_mastodon_requirements(client: TestClient) -> None:
    group = await make_group()
    _, doc = await get_json(client, "/groups/jazzpiano")
    actor = f"{BASE}/groups/jazzpiano"
    assert doc["type"] == "Group"
    assert doc["preferredUsername"] == "jazzpiano"
    assert doc["inbox"] == f"{actor}/inbox"
    assert doc["outbox"] == f"{actor}/outbox"
    assert doc["followers"] == f"{actor}/followers"
    assert doc["featured"] == f"{actor}/featured"
    assert doc["endpoints"]["sharedInbox"] == f"{BASE}/inbox"
    assert doc["manuallyApprovesFollowers"] is False
    key = doc["publicKey"]
    assert key["id"] == f"{actor}#main-key"
    assert key["owner"] == actor
    loaded = serialization.load_pem_public_key(key["publicKeyPem"].encode())
    assert isinstance(loaded, rsa.RSAPublicKey)
    stored = serialization.load_pem_public_key(group.public_key_pem.encode())
    assert loaded.public_numbers() == stored.public_numbers()


async def test_actor_context_declares_extensions(client: TestClient) -> None:
    await make_group()
    _, doc = await get_json(client, "/groups/jazzpiano")
    context = doc["@context"]
    assert context[0] == "https://www.w3.org/ns/activitystreams"
    assert "https://w3id.org/security/v1" in context
    terms = next(entry for entry in context if isinstance(entry, dict))
    extensions = ["manuallyApprovesFollowers", "featured", "postingRestrictedToMods"]
    extensions.append("discoverable")
    for term in extensions:
        assert term in terms, term
    assert terms["featured"] == {"@id": "toot:featured", "@type": "@id"}


async def test_approval_group_manually_approves_followers(client: TestClient) -> None:
    await make_group(membership_mode=MembershipMode.APPROVAL)
    _, doc = await get_json(client, "/groups/jazzpiano")
    assert doc["manuallyApprovesFollowers"] is True


async def test_members_only_group_is_not_discoverable(client: TestClient) -> None:
    await make_group(visibility=Visibility.MEMBERS_ONLY)
    _, doc = await get_json(client, "/groups/jazzpiano")
    assert doc["discoverable"] is False


async def test_actor_name_is_case_insensitive(client: TestClient) -> None:
    await make_group()
    status, doc = await get_json(client, "/groups/JazzPiano")
    assert status == 200
    assert doc["id"] == f"{BASE}/groups/jazzpiano"


# --- the page for people -------------------------------------------------------------------


async def test_browser_gets_html_page_with_handle(client: TestClient) -> None:
    await make_group(display_name="Jazz piano", summary="Chords & voicings")
    resp = await client.get("/groups/jazzpiano", headers={"Accept": BROWSER})
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    assert "@jazzpiano@groups.example" in page
    assert "Chords &amp; voicings" in page
    assert f'href="{BASE}/groups/jazzpiano"' in page


async def test_html_page_escapes_hostile_names(client: TestClient) -> None:
    await make_group(
        display_name="<script>alert(1)</script>",
        summary='<img src=x onerror="alert(2)">',
        rules="<script>alert(3)</script>",
    )
    page = await (await client.get("/groups/jazzpiano", headers={"Accept": BROWSER})).text()
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page


async def test_actor_summary_escapes_hostile_html(client: TestClient) -> None:
    await make_group(summary="<script>alert(1)</script>")
    _, doc = await get_json(client, "/groups/jazzpiano")
    assert "<script>" not in doc["summary"]


@pytest.mark.parametrize("accept", [AS_JSON, BROWSER])
async def test_unknown_group_is_404(client: TestClient, accept: str) -> None:
    resp = await client.get("/groups/nosuch", headers={"Accept": accept})
    assert resp.status == 404
    if accept == AS_JSON:
        assert "error" in json.loads(await resp.text())
    else:
        assert "<script" not in await resp.text()


# --- collections ---------------------------------------------------------------------------


async def test_followers_counts_accepted_members_without_listing(client: TestClient) -> None:
    group = await make_group()
    await add_members(group, MembershipState.ACCEPTED, 3)
    await add_members(group, MembershipState.PENDING, 2, start=3)
    status, doc = await get_json(client, "/groups/jazzpiano/followers")
    assert status == 200
    assert doc["type"] == "OrderedCollection"
    assert doc["id"] == f"{BASE}/groups/jazzpiano/followers"
    assert doc["totalItems"] == 3
    assert "orderedItems" not in doc and "items" not in doc and "first" not in doc
    status, page = await get_json(client, "/groups/jazzpiano/followers?page=1")
    assert status == 200
    assert "social.example" not in json.dumps(page)


async def test_followers_published_by_choice_are_paged(client: TestClient) -> None:
    group = await make_group(publish_members=True)
    await add_members(group, MembershipState.ACCEPTED, 22)
    await add_members(group, MembershipState.PENDING, 1, start=22)
    followers = f"{BASE}/groups/jazzpiano/followers"
    _, doc = await get_json(client, "/groups/jazzpiano/followers")
    assert doc["totalItems"] == 22
    assert doc["first"] == f"{followers}?page=1"
    _, first = await get_json(client, "/groups/jazzpiano/followers?page=1")
    assert first["type"] == "OrderedCollectionPage"
    assert first["partOf"] == followers
    assert first["next"] == f"{followers}?page=2"
    assert "prev" not in first
    _, second = await get_json(client, "/groups/jazzpiano/followers?page=2")
    assert second["prev"] == f"{followers}?page=1"
    assert "next" not in second
    listed = first["orderedItems"] + second["orderedItems"]
    assert sorted(listed) == sorted(f"https://social.example/users/u{i}" for i in range(22))
    assert "https://social.example/users/u22" not in listed


async def test_members_only_group_never_lists_members(client: TestClient) -> None:
    """Unsigned, its collections are refused outright (signed by a member's server, the
    count only: tests/test_authorized_fetch.py)."""
    group = await make_group(publish_members=True, visibility=Visibility.MEMBERS_ONLY)
    await add_members(group, MembershipState.ACCEPTED, 2)
    for path in ("/groups/jazzpiano/followers", "/groups/jazzpiano/followers?page=1"):
        status, doc = await get_json(client, path)
        assert status == 401
        assert "social.example" not in json.dumps(doc)


@pytest.mark.parametrize("collection", ["featured", "moderators"])
async def test_empty_collections(client: TestClient, collection: str) -> None:
    await make_group()
    status, doc = await get_json(client, f"/groups/jazzpiano/{collection}")
    assert status == 200
    assert doc["type"] == "OrderedCollection"
    assert doc["id"] == f"{BASE}/groups/jazzpiano/{collection}"
    assert doc["totalItems"] == 0
    assert doc["orderedItems"] == []


async def test_empty_outbox_and_its_first_page(client: TestClient) -> None:
    await make_group()
    outbox = f"{BASE}/groups/jazzpiano/outbox"
    _, doc = await get_json(client, "/groups/jazzpiano/outbox")
    assert doc["type"] == "OrderedCollection"
    assert doc["id"] == outbox
    assert doc["totalItems"] == 0
    _, page = await get_json(client, "/groups/jazzpiano/outbox?page=1")
    assert page["type"] == "OrderedCollectionPage"
    assert page["id"] == f"{outbox}?page=1"
    assert page["partOf"] == outbox
    assert page["orderedItems"] == []
    assert "next" not in page and "prev" not in page


async def test_outbox_pages_newest_first_and_only_public_announces(client: TestClient) -> None:
    """One item per conversation the group announced publicly and still holds: its latest
    wrapped Announce; replies and deleted posts are not listed."""
    group = await make_group()
    actor = f"{BASE}/groups/jazzpiano"

    async def post(n: int, **fields) -> None:
        ap_id = f"{BASE}/activities/{n}"
        await Activity.create(
            ap_id=ap_id, type="Announce", actor=actor, inbound=False, group=group,
            payload={"id": ap_id, "type": "Announce"}, public=True,
        )
        await StoredObject.create(
            ap_id=f"https://social.example/notes/{n}", type="Note", group=group,
            attributed_to="https://social.example/users/ann", document={}, announce_id=ap_id,
            **fields,
        )

    for i in range(21):
        await post(i)
    await post(21, in_reply_to="https://social.example/notes/1")
    await post(22, deleted=True)
    outbox = f"{actor}/outbox"
    _, doc = await get_json(client, "/groups/jazzpiano/outbox")
    assert doc["totalItems"] == 21
    assert [item["id"] for item in doc["orderedItems"][:1]] == [f"{BASE}/activities/20"]
    _, first = await get_json(client, "/groups/jazzpiano/outbox?page=1")
    assert [item["id"] for item in first["orderedItems"][:2]] == [
        f"{BASE}/activities/20",
        f"{BASE}/activities/19",
    ]
    assert len(first["orderedItems"]) == 20
    assert first["next"] == f"{outbox}?page=2"
    _, second = await get_json(client, "/groups/jazzpiano/outbox?page=2")
    assert [item["id"] for item in second["orderedItems"]] == [f"{BASE}/activities/0"]
    assert second["prev"] == f"{outbox}?page=1"


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "99999999999"])
@pytest.mark.parametrize("collection", ["outbox", "followers"])
async def test_bad_page_is_400(client: TestClient, collection: str, page: str) -> None:
    await make_group(publish_members=True)
    status, doc = await get_json(client, f"/groups/jazzpiano/{collection}?page={page}")
    assert status == 400
    assert "error" in doc


@pytest.mark.parametrize("collection", ["followers", "featured", "moderators", "outbox"])
async def test_collections_of_unknown_group_are_404(client: TestClient, collection: str) -> None:
    resp = await client.get(f"/groups/nosuch/{collection}", headers={"Accept": AS_JSON})
    assert resp.status == 404


# --- images --------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["icon", "image"])
async def test_unset_image_is_404(client: TestClient, which: str) -> None:
    await make_group()
    resp = await client.get(f"/groups/jazzpiano/{which}")
    assert resp.status == 404
    _, doc = await get_json(client, "/groups/jazzpiano")
    assert which not in doc


@pytest.mark.parametrize("which", ["icon", "image"])
async def test_set_image_served_with_its_type_and_nosniff(client: TestClient, which: str) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    await make_group(**{which: png, f"{which}_media_type": "image/png"})
    resp = await client.get(f"/groups/jazzpiano/{which}")
    assert resp.status == 200
    assert resp.content_type == "image/png"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert await resp.read() == png
    _, doc = await get_json(client, "/groups/jazzpiano")
    assert doc[which] == {
        "type": "Image",
        "mediaType": "image/png",
        "url": f"{BASE}/groups/jazzpiano/{which}",
    }
