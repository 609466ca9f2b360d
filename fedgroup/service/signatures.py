"""Who signed a request: the signature read and checked against our rules, its key resolved
and verified. Shared by the inbox (POSTs) and by reads of members-only content (signed GETs).

Two steps, kept apart so each can be cached or measured on its own: `read_signature` needs
no key and no storage (shape, coverage, freshness, digest, and that the request was signed
for us), `verified_signer` resolves the key and verifies. Only a signature that verified
writes anything (the key and its owner's document).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ..activitypub.hosts import authority_or_none
from ..activitypub.httpsig import SignatureClaim, SignatureError, parse_request_signature
from ..activitypub.signed_fetch import Fetcher
from ..config import Settings
from .actors import ActorLookupError, ResolvedKey, remember_key, resolve_key


class UnverifiedSignature(Exception):
    """The signature could not be checked or does not verify.

    `reason` is what the requester is told (what was refused); `detail` adds what only our
    log may say (what our network saw while fetching the key).
    """

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


def read_signature(
    settings: Settings,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
) -> SignatureClaim:
    """The request's signature claim, if it meets our rules; raises SignatureError.

    The request must have been made to our own host: a signature covers the `Host` it was
    made for, so one made for another server's inbox and replayed here would otherwise
    verify (the path and the body are the same everywhere).
    """
    claim = parse_request_signature(
        method,
        url,
        headers,
        has_body=body is not None,
        body=body,
        now=time.time(),
        max_age=settings.signature_max_age,
        max_future=settings.signature_max_future,
    )
    ours = authority_or_none(settings.base_url)
    if authority_or_none(url) != ours:
        raise SignatureError(f"signed for another host than {ours}")
    return claim


def _first_verifying(claim: SignatureClaim, keys: list[ResolvedKey]) -> ResolvedKey | None:
    return next((key for key in keys if claim.verify(key.public_key)), None)


async def verified_signer(fetcher: Fetcher, claim: SignatureClaim) -> str:
    """The actor whose key made the signature; a cached key that fails is refetched once,
    so a peer that rotated its key is not refused for long."""
    try:
        keys = await resolve_key(fetcher, claim.key_id)
        key = _first_verifying(claim, keys)
        if key is None and any(k.from_cache for k in keys):
            key = _first_verifying(claim, await resolve_key(fetcher, claim.key_id, refresh=True))
    except ActorLookupError as exc:
        raise UnverifiedSignature("signature key unavailable", exc.reason) from None
    if key is None:
        raise UnverifiedSignature("signature does not verify")
    await remember_key(key)
    return key.owner
