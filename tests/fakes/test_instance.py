"""The fake remote instance behaves like the server other tests pretend it is."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.fakes import FakeInstance, status_sequence


async def test_instances_get_distinct_loopback_hosts() -> None:
    async with FakeInstance(key_size=1024) as a, FakeInstance(key_size=1024) as b:
        assert a.address != b.address
        assert a.address.startswith("127.") and a.address != "127.0.0.1"
        assert a.base_url == f"http://{a.address}:{a.port}"
        assert a.public_key_pem != b.public_key_pem


async def test_serves_actor_webfinger_nodeinfo_and_registered_documents() -> None:
    remote = FakeInstance(software="lemmy", key_size=1024)
    async with remote, aiohttp.ClientSession() as s:
        remote.add_actor("alice", summary="hi")
        remote.serve("/notes/1", {"id": remote.url("/notes/1"), "type": "Note"})

        async with s.get(remote.actor_url("alice")) as response:
            assert response.content_type == "application/activity+json"
            actor = await response.json(content_type=None)
        assert actor["publicKey"] == {
            "id": remote.key_id("alice"),
            "owner": remote.actor_url("alice"),
            "publicKeyPem": remote.public_key_pem,
        }
        assert actor["endpoints"]["sharedInbox"] == remote.shared_inbox_url
        assert actor["summary"] == "hi"

        resource = f"acct:alice@{remote.domain}"
        async with s.get(remote.url("/.well-known/webfinger"), params={"resource": resource}) as r:
            assert r.content_type == "application/jrd+json"
            jrd = json.loads(await r.read())
        assert jrd["subject"] == resource
        assert {
            "rel": "self",
            "type": "application/activity+json",
            "href": remote.actor_url("alice"),
        } in jrd["links"]

        async with s.get(remote.url("/.well-known/nodeinfo")) as r:
            href = (await r.json())["links"][0]["href"]
        async with s.get(href) as r:
            assert (await r.json(content_type=None))["software"]["name"] == "lemmy"

        async with s.get(remote.url("/notes/1")) as r:
            assert (await r.json(content_type=None))["type"] == "Note"
        async with s.get(remote.url("/users/nobody")) as r:
            assert r.status == 404
        assert [req.path_qs.split("?")[0] for req in remote.requests] == [
            "/users/alice",
            "/.well-known/webfinger",
            "/.well-known/nodeinfo",
            "/nodeinfo/2.1",
            "/notes/1",
            "/users/nobody",
        ]


async def test_key_pair_is_real() -> None:
    async with FakeInstance(key_size=1024) as remote:
        message = b"(request-target): post /inbox"
        signature = remote.private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        public = serialization.load_pem_public_key(remote.public_key_pem.encode())
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]


async def test_inbox_records_posts_and_answers_with_the_responder() -> None:
    async with FakeInstance(key_size=1024) as remote, aiohttp.ClientSession() as s:
        remote.add_actor("alice")
        remote.inbox_responder = status_sequence(500, 500, then=202)
        activity = {"id": "http://us.example/a/1", "type": "Follow"}
        statuses = []
        for url in (remote.shared_inbox_url, remote.inbox_url("alice"), remote.shared_inbox_url):
            async with s.post(url, json=activity, headers={"Signature": "sig"}) as r:
                statuses.append(r.status)
        assert statuses == [500, 500, 202]
        post = await remote.wait_for(lambda p: p.status == 202)
        assert post.json == activity
        assert post.headers["Signature"] == "sig"
        assert json.loads(post.body) == activity
        assert [p.path for p in remote.received] == ["/inbox", "/users/alice/inbox", "/inbox"]


async def test_wait_for_waits_for_a_later_post_and_times_out_clearly() -> None:
    async with FakeInstance(key_size=1024) as remote, aiohttp.ClientSession() as s:

        async def later() -> None:
            await asyncio.sleep(0.1)
            await s.post(remote.shared_inbox_url, json={"type": "Announce"})

        task = asyncio.create_task(later())
        post = await remote.wait_for(lambda p: p.json["type"] == "Announce", timeout=2)
        assert post.status == 202
        await task
        with pytest.raises(AssertionError, match="no matching inbox POST"):
            await remote.wait_for(lambda p: p.json["type"] == "Delete", timeout=0.1)


async def test_verify_hook_rejects_with_401() -> None:
    async with FakeInstance(key_size=1024) as remote, aiohttp.ClientSession() as s:
        seen: list[bytes] = []

        async def verify(request: web.Request, body: bytes) -> bool:
            seen.append(body)
            return request.headers.get("Signature") == "good"

        remote.verify = verify
        for signature in ("bad", "good"):
            headers = {"Signature": signature}
            async with s.post(remote.shared_inbox_url, data=b"{}", headers=headers):
                pass
        results: list[tuple[int, bool | None]] = [(p.status, p.verified) for p in remote.received]
        assert results == [(401, False), (202, True)]
        assert seen == [b"{}", b"{}"]


async def test_route_lets_a_test_write_any_server_behaviour() -> None:
    async with FakeInstance(key_size=1024) as remote, aiohttp.ClientSession() as s:

        async def teapot(_request: web.Request) -> web.Response:
            return web.Response(status=418)

        remote.route("/tea", teapot)
        remote.redirect("/old", "/tea")
        async with s.get(remote.url("/old")) as r:
            assert r.status == 418
        assert [req.path_qs for req in remote.requests] == ["/old", "/tea"]
        assert remote.received == []
