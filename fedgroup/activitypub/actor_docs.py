"""Reading remote actor and key documents: pure functions from JSON to plain values.

Servers publish keys three ways: an actor with `publicKey` (Mastodon, Lemmy; sometimes a
list), a separate key document with an `owner` (Pleroma, GoToSocial), and `assertionMethod`
Multikeys (Fedify, for Ed25519). A key only counts for an actor if that actor's own
document lists it: a key document naming an owner proves nothing by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .vocab import as_list, id_of

ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})
KEY_TYPES = frozenset({"Key", "CryptographicKey", "Multikey"})


class ActorDocumentError(ValueError):
    """A remote document is not a usable actor or key; `str()` is the reason to log."""


@dataclass(frozen=True)
class KeyMaterial:
    """One public key as published: PEM text or a multibase Multikey, and who owns it."""

    key_id: str
    owner: str
    public: str


@dataclass(frozen=True)
class ActorInfo:
    """What we keep of a remote actor: where to deliver and which keys it signs with."""

    url: str
    type: str
    preferred_username: str | None
    inbox: str
    shared_inbox: str | None
    keys: tuple[KeyMaterial, ...]

    @property
    def host(self) -> str:
        return host_of(self.url)


def host_of(url: str) -> str:
    """Lower-cased host[:port] of a URL, the unit policies and deliveries are grouped by."""
    return urlsplit(url).netloc.lower()


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _key_from(entry: Any, default_owner: str | None) -> KeyMaterial | None:
    if not isinstance(entry, dict):
        return None
    key_id = entry.get("id")
    owner = entry.get("owner") or entry.get("controller") or default_owner
    public = entry.get("publicKeyPem") or entry.get("publicKeyMultibase")
    if not (_is_http_url(key_id) and isinstance(owner, str) and isinstance(public, str)):
        return None
    return KeyMaterial(key_id=key_id, owner=owner, public=public)


def keys_of_actor(doc: dict[str, Any]) -> tuple[KeyMaterial, ...]:
    """Keys an actor document lists as its own (owner/controller must be the actor)."""
    actor = doc.get("id")
    found: list[KeyMaterial] = []
    for entry in as_list(doc.get("publicKey")) + as_list(doc.get("assertionMethod")):
        key = _key_from(entry, actor)
        if key is not None and key.owner == actor:
            found.append(key)
    return tuple(found)


def is_key_document(doc: dict[str, Any]) -> bool:
    """A standalone key (not an actor embedding one)."""
    types = set(as_list(doc.get("type")))
    if types & ACTOR_TYPES:
        return False
    return bool(types & KEY_TYPES) or "publicKeyPem" in doc or "publicKeyMultibase" in doc


def key_of_key_document(doc: dict[str, Any]) -> KeyMaterial:
    """The key a key document describes; its owner must still be confirmed by the owner."""
    key = _key_from(doc, None)
    if key is None:
        raise ActorDocumentError("key document lacks id, owner or public key")
    return key


def parse_actor(doc: dict[str, Any]) -> ActorInfo:
    """Validate an actor document enough to deliver to it and verify its signatures."""
    url = doc.get("id")
    if not _is_http_url(url):
        raise ActorDocumentError("actor has no http(s) id")
    types = [t for t in as_list(doc.get("type")) if isinstance(t, str)]
    kind = next((t for t in types if t in ACTOR_TYPES), None)
    if kind is None:
        raise ActorDocumentError(f"not an actor type: {types!r}")
    inbox = doc.get("inbox")
    if not _is_http_url(inbox):
        raise ActorDocumentError("actor has no http(s) inbox")
    endpoints = doc.get("endpoints")
    shared = endpoints.get("sharedInbox") if isinstance(endpoints, dict) else None
    name = doc.get("preferredUsername")
    return ActorInfo(
        url=url,
        type=kind,
        preferred_username=name if isinstance(name, str) else None,
        inbox=inbox,
        shared_inbox=shared if _is_http_url(shared) else None,
        keys=keys_of_actor(doc),
    )


def actor_of(activity: dict[str, Any]) -> str | None:
    """The activity's actor id (the first one, if a list), embedded or by IRI."""
    actors = as_list(activity.get("actor"))
    return id_of(actors[0]) if actors else None
