"""Inbox signature checking for fake instances, as a receiving server does it.

It fetches the signer's key document (from our server, over the socket), verifies the HTTP
signature and digest, and checks that the key's owner is the activity's actor, so a test
only passes if what fedgroup sends would be accepted by a strict remote server.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urldefrag

import aiohttp
from aiohttp import web

from fedgroup.activitypub.httpsig import SignatureError, load_public_key, parse_request_signature


async def verify_signed_post(request: web.Request, body: bytes) -> bool:
    try:
        claim = parse_request_signature(
            request.method,
            str(request.url),
            request.headers,
            has_body=True,
            body=body,
            now=time.time(),
        )
    except SignatureError:
        return False
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            urldefrag(claim.key_id)[0], headers={"Accept": "application/activity+json"}
        ) as response,
    ):
        if response.status != 200:
            return False
        actor = await response.json(content_type=None)
    key = actor.get("publicKey") or {}
    if key.get("id") != claim.key_id or key.get("owner") != actor.get("id"):
        return False
    if not claim.verify(load_public_key(key["publicKeyPem"])):
        return False
    try:
        activity = json.loads(body)
    except ValueError:
        return False
    return activity.get("actor") == actor.get("id")


class CachingVerifier:
    """Inbox signature checking as Mastodon does it: the cached key first, and one refetch
    of the key's document when the signature does not verify with it (key rotation).

    `fetches` lists every key id fetched, so a test can tell a refetch from a cache hit.
    """

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.fetches: list[str] = []

    async def _fetch(self, key_id: str) -> tuple[str, str] | None:
        """(owner, PEM) from the key's actor document, or None when it is not served."""
        self.fetches.append(key_id)
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                urldefrag(key_id)[0], headers={"Accept": "application/activity+json"}
            ) as response,
        ):
            if response.status != 200:
                return None
            actor = await response.json(content_type=None)
        key = actor.get("publicKey") or {}
        if key.get("id") != key_id or key.get("owner") != actor.get("id"):
            return None
        self.keys[key_id] = key["publicKeyPem"]
        return actor["id"], key["publicKeyPem"]

    async def __call__(self, request: web.Request, body: bytes) -> bool:
        try:
            claim = parse_request_signature(
                request.method,
                str(request.url),
                request.headers,
                has_body=True,
                body=body,
                now=time.time(),
            )
            activity = json.loads(body)
        except (SignatureError, ValueError):
            return False
        owner = urldefrag(claim.key_id)[0]
        cached = self.keys.get(claim.key_id)
        if cached is None or not claim.verify(load_public_key(cached)):
            fetched = await self._fetch(claim.key_id)
            if fetched is None or not claim.verify(load_public_key(fetched[1])):
                return False
            owner = fetched[0]
        return activity.get("actor") == owner
