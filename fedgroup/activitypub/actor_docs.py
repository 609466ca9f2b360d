"""Reading remote actor and key documents: pure functions from JSON to plain values.

Servers publish keys three ways: an actor with `publicKey` (Mastodon, Lemmy; sometimes a
list), a separate key document with an `owner` (Pleroma, GoToSocial), and `assertionMethod`
Multikeys (Fedify, for Ed25519). A key only counts for an actor if that actor's own
document lists it and the key is on the actor's origin: a key document naming an owner
proves nothing by itself, and an actor on one host cannot speak for keys on another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag

from .hosts import authority_or_none, same_origin
from .vocab import as_list, http_url, id_of

MAX_KEY_MATERIAL = 16 * 1024  # a PEM of an RSA-16384 key is about 3 KB
MAX_NAME_LENGTH = 255

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
    multibase: bool = False


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
        """The canonical `host[:port]` the actor lives on (instances are grouped by it)."""
        return authority_or_none(self.url) or ""

    def key(self, key_id: str) -> KeyMaterial | None:
        """The listed key with this id, if the actor lists it."""
        return next((k for k in self.keys if k.key_id == key_id), None)


def _key_from(entry: Any, default_owner: str | None) -> KeyMaterial | None:
    if not isinstance(entry, dict):
        return None
    key_id = http_url(entry.get("id"))
    owner = entry.get("owner") or entry.get("controller") or default_owner
    pem = entry.get("publicKeyPem")
    public = pem or entry.get("publicKeyMultibase")
    if not (key_id and isinstance(owner, str) and isinstance(public, str)):
        return None
    if len(public) > MAX_KEY_MATERIAL:
        return None
    return KeyMaterial(key_id=key_id, owner=owner, public=public, multibase=not pem)


def keys_of_actor(doc: dict[str, Any]) -> tuple[KeyMaterial, ...]:
    """Keys an actor document lists as its own: owner/controller is the actor, and the key
    is on the actor's origin (an actor on one host never vouches for a key on another)."""
    actor = doc.get("id")
    if not isinstance(actor, str):
        return ()
    found: list[KeyMaterial] = []
    for entry in as_list(doc.get("publicKey")) + as_list(doc.get("assertionMethod")):
        key = _key_from(entry, actor)
        if key is not None and key.owner == actor and same_origin(key.key_id, actor):
            found.append(key)
    return tuple(found)


def is_own_fragment(key_id: str, actor: str) -> bool:
    """Whether the key id is the actor's id with a fragment (`…/users/a#main-key`): fetching
    the key id then yields the actor's own document, so the document vouches for the key."""
    return urldefrag(key_id)[0] == urldefrag(actor)[0]


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
    url = http_url(doc.get("id"))
    if not url:
        raise ActorDocumentError("actor has no http(s) id")
    types = [t for t in as_list(doc.get("type")) if isinstance(t, str)]
    kind = next((t for t in types if t in ACTOR_TYPES), None)
    if kind is None:
        raise ActorDocumentError(f"not an actor type: {types!r}")
    inbox = http_url(doc.get("inbox"))
    if not inbox:
        raise ActorDocumentError("actor has no http(s) inbox")
    endpoints = doc.get("endpoints")
    shared = endpoints.get("sharedInbox") if isinstance(endpoints, dict) else None
    name = doc.get("preferredUsername")
    return ActorInfo(
        url=url,
        type=kind,
        preferred_username=name if isinstance(name, str) and len(name) <= MAX_NAME_LENGTH else None,
        inbox=inbox,
        shared_inbox=http_url(shared),
        keys=keys_of_actor(doc),
    )


def trimmed_actor_document(doc: dict[str, Any], info: ActorInfo) -> dict[str, Any]:
    """What we store of an actor document: the fields we use, nothing a stranger padded.

    A remote actor may be large (a long bio, thousands of profile fields); storing it whole
    would let anyone grow our database by pointing a key id at a big document.
    """
    trimmed: dict[str, Any] = {"id": info.url, "type": info.type, "inbox": info.inbox}
    if info.preferred_username:
        trimmed["preferredUsername"] = info.preferred_username
    name = doc.get("name")
    if isinstance(name, str):
        trimmed["name"] = name[:MAX_NAME_LENGTH]
    for field in ("url", "outbox", "followers"):
        value = http_url(id_of(doc.get(field)))
        if value:
            trimmed[field] = value
    if info.shared_inbox:
        trimmed["endpoints"] = {"sharedInbox": info.shared_inbox}
    pem_keys = [
        {"id": k.key_id, "owner": k.owner, "publicKeyPem": k.public}
        for k in info.keys
        if not k.multibase
    ]
    multikeys = [
        {"id": k.key_id, "type": "Multikey", "controller": k.owner, "publicKeyMultibase": k.public}
        for k in info.keys
        if k.multibase
    ]
    if pem_keys:
        trimmed["publicKey"] = pem_keys
    if multikeys:
        trimmed["assertionMethod"] = multikeys
    return trimmed


def actor_of(activity: dict[str, Any]) -> str | None:
    """The activity's actor id (the first one, if a list), embedded or by IRI."""
    actors = as_list(activity.get("actor"))
    return id_of(actors[0]) if actors else None
