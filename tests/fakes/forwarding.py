"""Receiving forwarded activities as a strict server does: the HTTP signature must verify
with the key of whoever signed (the group), and the activity is then believed only as its
own author's server serves it at its id (fetched, as Mobilizon and fedgroup do)."""

from __future__ import annotations

import json
import time
from urllib.parse import urldefrag

import aiohttp
from aiohttp import web

from fedgroup.activitypub.httpsig import SignatureError, load_public_key, parse_request_signature

ACCEPT = {"Accept": "application/activity+json"}


async def _json(url: str) -> dict | None:
    async with aiohttp.ClientSession() as session, session.get(url, headers=ACCEPT) as answer:
        return await answer.json(content_type=None) if answer.status == 200 else None


async def verify_forwarded(request: web.Request, body: bytes) -> bool:
    """Signed by some actor whose key verifies; the body is what its author's server says."""
    try:
        claim = parse_request_signature(
            request.method, str(request.url), request.headers, has_body=True, body=body,
            now=time.time(),
        )
    except SignatureError:
        return False
    signer = await _json(urldefrag(claim.key_id)[0])
    key = (signer or {}).get("publicKey") or {}
    if key.get("id") != claim.key_id or not claim.verify(load_public_key(key["publicKeyPem"])):
        return False
    try:
        activity = json.loads(body)
    except ValueError:
        return False
    if activity.get("actor") == signer.get("id"):
        return True
    original = await _json(activity["id"])
    return original is not None and original.get("id") == activity["id"]


def signer_of(post) -> str:
    """The actor whose key signed a received POST (draft-cavage `keyId`, fragment dropped)."""
    header = post.headers.get("Signature", "")
    key_id = header.split('keyId="', 1)[1].split('"', 1)[0]
    return urldefrag(key_id)[0]
