"""Accepting an inbound activity: verify who sent it, check origins, store it, then answer.

The order matters. Cheap checks come first (shape, signature header, freshness, digest,
domain blocks), so a blocked or malformed request costs no network request. Then the key
is resolved and the signature verified (one refetch for rotated keys). Then origins: the
key's owner must be the activity's actor, and the activity's id must be on the actor's
origin (FEP-fe34). A forwarded activity (signed by someone else) is accepted only with a
verifying embedded LD signature or FEP-8b32 proof by the actor, or as fetched from its
origin. Only then is it stored, deduplicated on id, and only then do we answer 202: a
crash after that loses nothing, because the inbound worker picks stored rows up.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from tortoise.exceptions import IntegrityError

from ..activitypub import jsonld, ldsig, proof
from ..activitypub.actor_docs import actor_of, host_of
from ..activitypub.fetch import FetchError, same_origin
from ..activitypub.httpsig import SignatureError, parse_request_signature
from ..activitypub.signed_fetch import Fetcher
from ..activitypub.vocab import id_of
from ..config import Settings
from ..service.actors import ActorLookupError, resolve_key
from ..service.instances import host_of as instance_host
from ..service.instances import learn_scheme_from_inbound, mark_alive
from ..service.policies import host_is_blocked
from ..service.signatures import UnverifiedSignature, verified_signer
from ..storage.models import Activity, Group

log = logging.getLogger(__name__)


class InboxRefusal(Exception):
    """The request is refused; `status` is the HTTP answer, `reason` a short log line."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class InboxResult:
    stored: bool
    duplicate: bool = False
    activity_id: str | None = None


def parse_activity(body: bytes) -> dict[str, Any]:
    """The JSON body as an activity with an id, a type and an actor, or a 400."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InboxRefusal(400, "body is not JSON") from None
    if not isinstance(doc, dict):
        raise InboxRefusal(400, "body is not a JSON object")
    ident = doc.get("id")
    if not isinstance(ident, str) or urlsplit(ident).scheme not in {"http", "https"}:
        raise InboxRefusal(400, "activity has no http(s) id")
    if not isinstance(doc.get("type"), str):
        raise InboxRefusal(400, "activity has no type")
    actor = actor_of(doc)
    if not actor or urlsplit(actor).scheme not in {"http", "https"}:
        raise InboxRefusal(400, "activity has no actor")
    return doc


async def _key_of(fetcher: Fetcher, key_id: str | None, actor: str, kind: type) -> Any:
    """The actor's own key of the given type named by an embedded signature, if any."""
    if not key_id:
        return None
    try:
        key = await resolve_key(fetcher, key_id)
    except ActorLookupError:
        return None
    return key.public_key if key.owner == actor and isinstance(key.public_key, kind) else None


async def _embedded_signature_by(
    fetcher: Fetcher, doc: dict[str, Any], actor: str
) -> dict[str, Any] | None:
    """The activity as covered by a verifying embedded proof or LD signature by `actor`."""
    ed_key = await _key_of(
        fetcher, proof.proof_verification_method(doc), actor, ed25519.Ed25519PublicKey
    )
    if ed_key is not None and proof.verify_proof(doc, ed_key):
        return doc  # JCS covers every byte of the document
    rsa_key = await _key_of(fetcher, ldsig.signature_creator(doc), actor, rsa.RSAPublicKey)
    if rsa_key is not None and ldsig.verify_document(doc, rsa_key):
        # Only what the signature covers may be trusted: terms outside every context
        # are dropped by canonicalization, so a forwarder could have changed them.
        return jsonld.compact_known_terms(doc)
    return None


async def _fetched_from_origin(
    fetcher: Fetcher, doc: dict[str, Any], actor: str
) -> dict[str, Any] | None:
    """The activity as its origin serves it, if it does and it says the same actor."""
    try:
        fetched = await fetcher.get_json(doc["id"])
    except FetchError as exc:
        log.info("forwarded activity %s not fetchable: %s", doc["id"], exc.reason)
        return None
    if fetched.get("id") != doc["id"] or actor_of(fetched) != actor:
        return None
    return fetched


async def receive_activity(
    fetcher: Fetcher,
    settings: Settings,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    group: Group | None,
) -> InboxResult:
    """Verify and store one inbound activity; raises InboxRefusal for anything refused."""
    doc = parse_activity(body)
    actor = actor_of(doc) or ""
    try:
        claim = parse_request_signature(
            method,
            url,
            headers,
            has_body=True,
            body=body,
            now=time.time(),
            max_age=settings.signature_max_age,
            max_future=settings.signature_max_future,
        )
    except SignatureError as exc:
        raise InboxRefusal(401, f"signature: {exc.reason}") from None
    if await host_is_blocked(host_of(claim.key_id), host_of(actor)):
        raise InboxRefusal(403, "domain is blocked")
    if not same_origin(doc["id"], actor):
        raise InboxRefusal(403, "activity id is not on the actor's origin")
    if await Activity.exists(ap_id=doc["id"]):
        # A repeat changes nothing; verifying it again would only cost us a key lookup.
        return InboxResult(stored=False, duplicate=True, activity_id=doc["id"])

    try:
        signer = await verified_signer(fetcher, claim)
    except UnverifiedSignature as exc:
        if _is_self_delete(doc, actor):
            # A deleted account's key is gone (410); there is nothing of theirs to verify.
            log.info("unverifiable self-delete of %s dropped", actor)
            return InboxResult(stored=False, activity_id=doc["id"])
        raise InboxRefusal(401, exc.reason) from None
    if signer != actor:
        trusted = await _embedded_signature_by(fetcher, doc, actor)
        if trusted is None:
            trusted = await _fetched_from_origin(fetcher, doc, actor)
        if trusted is None:
            raise InboxRefusal(401, f"signed by {signer}, not by the actor {actor}")
        doc = trusted
    result = await store_inbound(doc, group)
    # Whatever a server sends us proves it is up: deliveries to it resume at once.
    await mark_alive(instance_host(signer))
    await learn_scheme_from_inbound(instance_host(signer), claim.scheme)
    return result


def _is_self_delete(doc: dict[str, Any], actor: str) -> bool:
    return doc.get("type") == "Delete" and id_of(doc.get("object")) == actor


async def store_inbound(doc: dict[str, Any], group: Group | None) -> InboxResult:
    """Store a verified activity for the inbound worker, once per id."""
    try:
        await Activity.create(
            ap_id=doc["id"],
            type=doc["type"][:32],
            actor=actor_of(doc) or "",
            object_id=(id_of(doc.get("object")) or "")[:2048] or None,
            inbound=True,
            group=group,
            payload=doc,
        )
    except IntegrityError:
        return InboxResult(stored=False, duplicate=True, activity_id=doc["id"])
    return InboxResult(stored=True, activity_id=doc["id"])
