"""Signed GETs as the instance actor, through the one guarded fetch path.

Servers in authorized-fetch mode (Mastodon's secure mode, Fedify peers with an authenticated
loader) refuse anonymous GETs, so every fetch is signed by our Application actor. A peer
that refuses draft-cavage gets one retry signed with RFC 9421.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag

import aiohttp

from .fetch import BadResponse, Fetched, OriginMismatch, fetch_bytes, fetch_json
from .httpsig import Scheme, sign_request
from .jsonparse import DEFAULT_LIMITS, JsonLimits
from .keys import load_private_key


@dataclass(frozen=True)
class Fetcher:
    """Everything a remote GET needs: the shared session, limits and our signing key."""

    session: aiohttp.ClientSession
    allow_private: bool
    max_bytes: int
    key_id: str
    private_key_pem: str
    json_limits: JsonLimits = DEFAULT_LIMITS

    def _signer(self, scheme: Scheme):
        key = load_private_key(self.private_key_pem)

        def sign(method: str, url: str, headers: dict[str, str]) -> dict[str, str]:
            return sign_request(
                method, url, headers, None, key_id=self.key_id, private_key=key, scheme=scheme
            )

        return sign

    async def get_json(self, url: str, *, expect_same_origin_id: bool = True) -> dict[str, Any]:
        """An ActivityStreams document whose id is on the origin it came from."""
        for scheme in ("cavage", "rfc9421"):
            try:
                return await fetch_json(
                    self.session,
                    url,
                    allow_private=self.allow_private,
                    signer=self._signer(scheme),
                    max_bytes=self.max_bytes,
                    expect_same_origin_id=expect_same_origin_id,
                    limits=self.json_limits,
                )
            except BadResponse as exc:
                # A peer refusing our draft-cavage signature gets one knock with RFC 9421.
                if exc.status not in (400, 401) or scheme == "rfc9421":
                    raise
        raise AssertionError("unreachable: the last scheme re-raises")

    async def get_document(self, url: str) -> dict[str, Any]:
        """The document that lives at `url`: its `id` is `url`, or else the document is
        fetched again at its own id and must say that id there.

        A server may serve any JSON at any path (an uploaded file, a profile field's link),
        and that JSON may claim any id on the same origin: what it says is believed only
        as served at the id it claims. Fragments are not part of the comparison.
        """
        document = await self.get_json(url)
        claimed = document["id"]
        if urldefrag(claimed)[0] == urldefrag(url)[0]:
            return document
        again = await self.get_json(claimed)
        if urldefrag(again["id"])[0] != urldefrag(claimed)[0]:
            raise OriginMismatch(f"{url} sent a document for {claimed[:200]}, which says otherwise")
        return again

    async def get_bytes(self, url: str, *, accept: str = "application/json") -> Fetched:
        """Any small document (NodeInfo), same limits, unsigned: NodeInfo is public."""
        return await fetch_bytes(
            self.session,
            url,
            allow_private=self.allow_private,
            accept=accept,
            max_bytes=self.max_bytes,
        )
