"""Remote actors and their keys: fetched through the guarded path, cached in the database.

Keys are looked up by key id. A cached key that fails to verify is refetched once, so a
remote server can rotate keys without us refusing its traffic for long; a second failure
is a refusal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urldefrag

from ..activitypub.actor_docs import (
    ActorDocumentError,
    ActorInfo,
    host_of,
    is_key_document,
    key_of_key_document,
    parse_actor,
)
from ..activitypub.fetch import FetchError, same_origin
from ..activitypub.httpsig import PublicKey, load_public_key
from ..activitypub.signed_fetch import Fetcher
from ..storage.models import RemoteActor, RemoteKey

log = logging.getLogger(__name__)


class ActorLookupError(Exception):
    """An actor or key could not be fetched or trusted; `reason` is one log line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ResolvedKey:
    key_id: str
    owner: str
    public_key: PublicKey
    from_cache: bool


async def store_actor(info: ActorInfo, document: dict) -> RemoteActor:
    """Upsert the actor row and the keys its document lists."""
    actor, _ = await RemoteActor.update_or_create(
        url=info.url,
        defaults={
            "type": info.type,
            "preferred_username": info.preferred_username,
            "host": info.host,
            "inbox": info.inbox,
            "shared_inbox": info.shared_inbox,
            "document": document,
        },
    )
    for key in info.keys:
        await RemoteKey.update_or_create(
            key_id=key.key_id, defaults={"owner": key.owner, "public_key": key.public}
        )
    return actor


async def fetch_actor(fetcher: Fetcher, url: str) -> RemoteActor:
    """Fetch an actor document now and cache it."""
    try:
        document = await fetcher.get_json(urldefrag(url)[0])
        info = parse_actor(document)
    except (FetchError, ActorDocumentError) as exc:
        raise ActorLookupError(f"actor {url}: {getattr(exc, 'reason', exc)}") from None
    if info.url != urldefrag(url)[0]:
        raise ActorLookupError(f"actor {url}: document id is {info.url}")
    return await store_actor(info, document)


async def get_actor(fetcher: Fetcher, url: str) -> RemoteActor:
    """The cached actor, fetched the first time it is needed."""
    actor = await RemoteActor.get_or_none(url=url)
    return actor if actor is not None else await fetch_actor(fetcher, url)


async def _fetch_key(fetcher: Fetcher, key_id: str) -> RemoteKey:
    url = urldefrag(key_id)[0]
    try:
        document = await fetcher.get_json(url)
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
        await fetch_actor(fetcher, claimed.owner)
    else:
        try:
            info = parse_actor(document)
        except ActorDocumentError as exc:
            raise ActorLookupError(f"key {key_id}: {exc}") from None
        await store_actor(info, document)
    key = await RemoteKey.get_or_none(key_id=key_id)
    if key is None:
        raise ActorLookupError(f"key {key_id}: not listed by its owner's actor document")
    return key


async def resolve_key(fetcher: Fetcher, key_id: str, *, refresh: bool = False) -> ResolvedKey:
    """The public key for a key id and the actor that owns it."""
    row = None if refresh else await RemoteKey.get_or_none(key_id=key_id)
    from_cache = row is not None
    if row is None:
        row = await _fetch_key(fetcher, key_id)
    try:
        public_key = load_public_key(row.public_key)
    except Exception as exc:  # malformed key material from a remote: refuse, don't crash
        raise ActorLookupError(f"key {key_id}: unusable key ({type(exc).__name__})") from None
    return ResolvedKey(key_id=key_id, owner=row.owner, public_key=public_key, from_cache=from_cache)


async def forget_actor(url: str) -> None:
    """Drop a deleted actor's cached document and keys."""
    await RemoteKey.filter(owner=url).delete()
    await RemoteActor.filter(url=url).delete()


def actor_host(url: str) -> str:
    return host_of(url)
