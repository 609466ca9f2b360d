"""Our signatures against an independent implementation: Fedify (the interop peer in
tests/interop/peer, Node on loopback). Fedify signs with RFC 9421 and draft-cavage and our
verifier accepts both; we sign with both and Fedify's inbox accepts and records both."""

from __future__ import annotations

import time
import uuid

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fedgroup.activitypub.httpsig import (
    SignatureError,
    load_public_key,
    parse_request_signature,
    sign_request,
)
from tests.interop.peer_harness import FedifyPeer, free_port, of_type

pytestmark = pytest.mark.interop  # a real Fedify peer: Linux x64 only

AS = "https://www.w3.org/ns/activitystreams"
SIGNER_HOST = "127.0.0.31"
PEER_HOST = "127.0.0.32"


class SignerSite:
    """A minimal remote server on loopback: one actor with our key, one recording inbox."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.port = free_port(SIGNER_HOST)
        self.base = f"http://{SIGNER_HOST}:{self.port}"
        self.actor = f"{self.base}/actor"
        self.key_id = f"{self.actor}#main-key"
        self.inbox = f"{self.base}/inbox"
        self.requests: list[tuple[str, list[tuple[str, str]], bytes]] = []

    async def _actor(self, request: web.Request) -> web.Response:
        pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        document = {
            "@context": [AS, "https://w3id.org/security/v1"],
            "id": self.actor,
            "type": "Service",
            "preferredUsername": "signer",
            "inbox": self.inbox,
            "publicKey": {"id": self.key_id, "owner": self.actor, "publicKeyPem": pem.decode()},
        }
        return web.json_response(document, content_type="application/activity+json")

    async def _inbox(self, request: web.Request) -> web.Response:
        self.requests.append(
            (str(request.url), list(request.headers.items()), await request.read())
        )
        return web.Response(status=202)

    async def __aenter__(self) -> SignerSite:
        app = web.Application()
        app.router.add_get("/actor", self._actor)
        app.router.add_post("/inbox", self._inbox)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, SIGNER_HOST, self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


async def _peer_public_key(peer: FedifyPeer):
    async with aiohttp.ClientSession() as session:
        headers = {"Accept": "application/activity+json"}
        async with session.get(peer.actor_url, headers=headers) as response:
            document = await response.json(content_type=None)
    return load_public_key(document["publicKey"]["publicKeyPem"])


async def test_fedify_and_fedgroup_verify_each_other(tmp_path):
    async with SignerSite() as site, FedifyPeer("alice", PEER_HOST, log_dir=tmp_path) as peer:
        # Fedify → us, both schemes, and a tampered one
        peer_key = await _peer_public_key(peer)
        for sign in ("rfc9421", "cavage", "tamper"):
            activity = {
                "@context": AS,
                "id": f"{peer.actor_url}/activities/{uuid.uuid4()}",
                "type": "Like",
                "actor": peer.actor_url,
                "object": site.actor,
            }
            await peer.send_raw(site.inbox, activity, sign=sign)
            url, headers, body = site.requests[-1]
            try:
                claim = parse_request_signature(
                    "POST", url, headers, has_body=True, body=body, now=time.time()
                )
            except SignatureError:
                assert sign == "tamper"
                continue
            assert claim.key_id.startswith(peer.actor_url)
            if sign == "tamper":
                assert not claim.verify(peer_key)
            else:
                assert claim.scheme == sign
                assert claim.verify(peer_key), claim.signature_base

        # us → Fedify, both schemes; the peer records only what it verified
        async with aiohttp.ClientSession() as session:
            for scheme in ("rfc9421", "cavage"):
                like_id = f"{site.base}/likes/{uuid.uuid4()}"
                body = (
                    f'{{"@context":"{AS}","id":"{like_id}","type":"Like",'
                    f'"actor":"{site.actor}","object":"{peer.actor_url}"}}'
                ).encode()
                headers = sign_request(
                    "POST",
                    peer.inbox_url,
                    {"Content-Type": "application/activity+json"},
                    body,
                    key_id=site.key_id,
                    private_key=site.key,
                    scheme=scheme,
                )
                async with session.post(peer.inbox_url, data=body, headers=headers) as response:
                    assert response.status in (200, 202), await response.text()
                received = await peer.wait_for_received(of_type("Like", id=like_id))
                assert received["actor"] == site.actor
                assert received["signature_scheme"] == scheme
