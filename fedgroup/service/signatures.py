"""Who signed a request: the key named by its signature, resolved and checked.

Shared by the inbox (POSTs) and by reads of members-only content (signed GETs).
"""

from __future__ import annotations

from ..activitypub.httpsig import SignatureClaim
from ..activitypub.signed_fetch import Fetcher
from .actors import ActorLookupError, resolve_key


class UnverifiedSignature(Exception):
    """The signature could not be checked or does not verify; `reason` is one log line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def verified_signer(fetcher: Fetcher, claim: SignatureClaim) -> str:
    """The actor whose key made the signature; a cached key that fails is refetched once,
    so a peer that rotated its key is not refused for long."""
    try:
        key = await resolve_key(fetcher, claim.key_id)
        if claim.verify(key.public_key):
            return key.owner
        if key.from_cache:
            key = await resolve_key(fetcher, claim.key_id, refresh=True)
            if claim.verify(key.public_key):
                return key.owner
    except ActorLookupError as exc:
        raise UnverifiedSignature(f"signature key unavailable: {exc.reason}") from None
    raise UnverifiedSignature("signature does not verify")
