"""Remote actors and their keys: fetched through the guarded path, cached in the database.

Who is who is decided by these rules (docs/security.md, "Identity"):

- A document counts only as served at its own id (`Fetcher.get_document`): a key URL that
  serves JSON claiming to be some actor is believed only as that actor's id serves it.
- A key belongs to an actor only when the actor's own document, fetched at the actor's id,
  lists it, and the key is on the actor's origin.
- An actor row is written only from a document fetched at that actor's id, trimmed to the
  fields we use; a key row only for a key whose own URL led to its owner.
- Nothing is written before a signature made with the key has verified: resolving gives
  candidates, `remember_key` stores the one that verified. A refused request costs no storage.

Keys are looked up by key id. A cached key that fails to verify is refetched once, so a
remote server can rotate keys without us refusing its traffic for long.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urldefrag

from ..activitypub.actor_docs import (
    ActorDocumentError,
    ActorInfo,
    KeyMaterial,
    is_key_document,
    is_own_fragment,
    key_of_key_document,
    parse_actor,
    trimmed_actor_document,
)
from ..activitypub.fetch import FetchError
from ..activitypub.hosts import same_origin
from ..activitypub.httpsig import PublicKey, load_public_key
from ..activitypub.signed_fetch import Fetcher
from ..caching import BoundedCache
from ..storage.models import RemoteActor, RemoteKey

log = logging.getLogger(__name__)

#: Verified keys, parsed, by key id: the inbox checks most signatures without reading the
#: database or parsing a PEM. A key that stops verifying is refetched (rotation), and a
#: deleted actor's keys are dropped; the TTL bounds how long a key pruned or changed by
#: another process is still believed here.
KEYS: BoundedCache[str, ResolvedKey] = BoundedCache("keys", max_entries=10_000, ttl=3600.0)


class ActorLookupError(Exception):
    """An actor or key could not be fetched or trusted; `reason` is one log line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FetchedActor:
    """An actor document as served at the actor's own id, trimmed, not yet stored."""

    info: ActorInfo
    document: dict[str, Any]


@dataclass(frozen=True)
class ResolvedKey:
    """One public key a signature may have been made with, and the actor it speaks for.

    `fetched` is the owner's document when the key was fetched just now: it is stored by
    `remember_key` once a signature made with this key has verified, not before.
    """

    key_id: str
    owner: str
    material: str
    public_key: PublicKey
    from_cache: bool
    fetched: FetchedActor | None = None


async def fetch_actor_document(fetcher: Fetcher, url: str) -> FetchedActor:
    """The actor at `url` as its own id serves it; nothing is stored."""
    url = urldefrag(url)[0]
    try:
        document = await fetcher.get_document(url)
        info = parse_actor(document)
    except (FetchError, ActorDocumentError) as exc:
        raise ActorLookupError(f"actor {url}: {getattr(exc, 'reason', exc)}") from None
    if info.url != url:
        raise ActorLookupError(f"actor {url}: document id is {info.url}")
    return FetchedActor(info, trimmed_actor_document(document, info))


async def store_actor(fetched: FetchedActor) -> RemoteActor:
    """Upsert the actor row, and the keys whose own URL is the actor's document."""
    info = fetched.info
    actor, _ = await RemoteActor.update_or_create(
        url=info.url,
        defaults={
            "type": info.type,
            "preferred_username": info.preferred_username,
            "host": info.host,
            "inbox": info.inbox,
            "shared_inbox": info.shared_inbox,
            "document": fetched.document,
        },
    )
    for key in info.keys:
        if is_own_fragment(key.key_id, info.url):
            await _store_key(key.key_id, key)
    return actor


async def _store_key(key_id: str, key: KeyMaterial) -> None:
    await RemoteKey.update_or_create(
        key_id=key_id, defaults={"owner": key.owner, "public_key": key.public}
    )


async def fetch_actor(fetcher: Fetcher, url: str) -> RemoteActor:
    """Fetch an actor document now and cache it (the caller trusts the actor already)."""
    return await store_actor(await fetch_actor_document(fetcher, url))


async def get_actor(fetcher: Fetcher, url: str) -> RemoteActor:
    """The cached actor, fetched the first time it is needed."""
    actor = await RemoteActor.get_or_none(url=url)
    return actor if actor is not None else await fetch_actor(fetcher, url)


def _resolved(key_id: str, key: KeyMaterial, fetched: FetchedActor | None) -> ResolvedKey:
    try:
        public_key = load_public_key(key.public)
    except Exception as exc:  # malformed key material from a remote: refuse, don't crash
        raise ActorLookupError(f"key {key_id}: unusable key ({type(exc).__name__})") from None
    return ResolvedKey(
        key_id=key_id,
        owner=key.owner,
        material=key.public,
        public_key=public_key,
        from_cache=fetched is None,
        fetched=fetched,
    )


def _candidates(key_id: str, owner: FetchedActor) -> list[ResolvedKey]:
    """The keys of `owner` a signature naming `key_id` may have been made with.

    The listed key of that id; or, as Mastodon allows, when `key_id` is the actor's own URL
    (no fragment, or another fragment), any key the actor lists.
    """
    listed = owner.info.key(key_id)
    if listed is not None:
        return [_resolved(key_id, listed, owner)]
    if is_own_fragment(key_id, owner.info.url) and owner.info.keys:
        return [_resolved(key_id, key, owner) for key in owner.info.keys]
    raise ActorLookupError(f"key {key_id}: not listed by its owner's actor document")


async def _fetch_key(fetcher: Fetcher, key_id: str) -> list[ResolvedKey]:
    url = urldefrag(key_id)[0]
    try:
        document = await fetcher.get_document(url)
    except FetchError as exc:
        raise ActorLookupError(f"key {key_id}: {exc.reason}") from None
    if is_key_document(document):
        try:
            claimed = key_of_key_document(document)
        except ActorDocumentError as exc:
            raise ActorLookupError(f"key {key_id}: {exc}") from None
        if not same_origin(claimed.owner, key_id):
            raise ActorLookupError(f"key {key_id}: owner {claimed.owner} on another origin")
        # The owner's own document must list the key, or anyone could claim anyone's key.
        owner = await fetch_actor_document(fetcher, claimed.owner)
    else:
        try:
            info = parse_actor(document)
        except ActorDocumentError as exc:
            raise ActorLookupError(f"key {key_id}: {exc}") from None
        owner = FetchedActor(info, trimmed_actor_document(document, info))
    return _candidates(key_id, owner)


async def resolve_key(
    fetcher: Fetcher, key_id: str, *, refresh: bool = False
) -> list[ResolvedKey]:
    """The public keys a signature naming `key_id` may have been made with (usually one),
    each with the actor that owns it. Nothing is stored: see `remember_key`."""
    if not refresh:
        known = KEYS.get(key_id)
        if known is not None:
            return [known]
    row = None if refresh else await RemoteKey.get_or_none(key_id=key_id)
    if row is None:
        return await _fetch_key(fetcher, key_id)
    cached = _resolved(
        key_id, KeyMaterial(key_id=row.key_id, owner=row.owner, public=row.public_key), None
    )
    KEYS.put(key_id, cached)
    return [cached]


async def remember_key(key: ResolvedKey) -> None:
    """A signature made with `key` verified: keep its owner's document and the key."""
    if key.fetched is None:
        return
    await store_actor(key.fetched)
    await _store_key(
        key.key_id, KeyMaterial(key_id=key.key_id, owner=key.owner, public=key.material)
    )
    KEYS.put(key.key_id, replace(key, from_cache=True, fetched=None))


async def forget_actor(url: str) -> None:
    """Drop a deleted actor's cached document and keys."""
    await RemoteKey.filter(owner=url).delete()
    await RemoteActor.filter(url=url).delete()
    KEYS.discard_where(lambda key: key.owner == url)
