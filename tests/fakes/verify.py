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


async def _fetch_key(key_id: str) -> tuple[str, str] | None:
    """(owner, PEM) of a key as its actor document serves it, or None if it is not served
    or the document does not own it."""
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
    return actor["id"], key["publicKeyPem"]


class KeyFetchingVerifier:
    """Inbox signature checking: the key from its actor document, the signature (digest
    included) verified, the key's owner the activity's actor.

    With `cache`, as Mastodon does: the cached key first, and one refetch of the key's
    document when the signature does not verify with it (key rotation). `fetches` lists every
    key id fetched, so a test can tell a refetch from a cache hit.
    """

    def __init__(self, *, cache: bool = True) -> None:
        self.cache = cache
        self.keys: dict[str, tuple[str, str]] = {}
        self.fetches: list[str] = []

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
        key = self.keys.get(claim.key_id) if self.cache else None
        if key is None or not claim.verify(load_public_key(key[1])):
            self.fetches.append(claim.key_id)
            key = await _fetch_key(claim.key_id)
            if key is None or not claim.verify(load_public_key(key[1])):
                return False
            if self.cache:
                self.keys[claim.key_id] = key
        return isinstance(activity, dict) and activity.get("actor") == key[0]


async def verify_signed_post(request: web.Request, body: bytes) -> bool:
    """A strict receiver that fetches the signing key for every request."""
    return await KeyFetchingVerifier(cache=False)(request, body)
