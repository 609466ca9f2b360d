"""Accepting an inbound activity: verify who sent it, check origins, store it, then answer.

Each step below is one function, run in this order; each refuses with an `InboxRefusal`:

1. `parse_activity`: one JSON parse with limits on depth and width, then the shape we need
   (an http(s) id, a type, an actor). 400.
2. `read_claim`: the signature header (coverage, freshness, digest, made for our host). No
   key, no network. 401.
3. `check_domains`: the key's and the actor's domain are not suspended (server-wide, by
   allow-list mode, or in the group whose own inbox this is), so a suspended domain costs
   us no network request. 403.
4. `check_origin`: the activity's id is on the actor's origin (FEP-fe34). 403.
5. `verify_signer`: the key is resolved and the signature verified (one refetch for rotated
   keys). Nothing is looked up in, or written to, our database before this has passed:
   neither whether the activity is known (an oracle) nor the key's owner (a cost). 401.
6. `trusted_document`: when the signer is not the actor (inbox forwarding), the activity is
   believed only with a verifying embedded LD signature or FEP-8b32 proof by the actor, or
   as fetched from its origin. 401.
7. `store_inbound`: stored by group commit (`pipeline.group_commit`), deduplicated on id;
   only after that commit do we answer 202. A crash after that loses nothing, because the
   inbound worker picks stored rows up. A row the database refused gets a 503 (try later).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ..activitypub import ldsig, ldworker, proof
from ..activitypub.actor_docs import actor_of
from ..activitypub.fetch import FetchError
from ..activitypub.hosts import authority_or_none, host_or_none, same_origin
from ..activitypub.httpsig import SignatureClaim, SignatureError
from ..activitypub.jsonparse import JsonLimits, JsonShapeError, parse_json
from ..activitypub.keys import public_key_pem
from ..activitypub.signed_fetch import Fetcher
from ..activitypub.vocab import has_type, http_url, id_of, type_in, types_of
from ..config import Settings
from ..service.actors import ActorLookupError, ResolvedKey, remember_key, resolve_key
from ..service.instances import learn_scheme_from_inbound, mark_alive
from ..service.policies import host_is_suspended
from ..service.signatures import UnverifiedSignature, read_signature, verified_signer
from .group_commit import InboundRow, InboxWriter, StoreFailed
from .handlers import HANDLERS

log = logging.getLogger(__name__)


class InboxRefusal(Exception):
    """The request is refused: `status` is the HTTP answer and `reason` what the sender is
    told; `detail` is what only our log says (never our network's view of their hosts)."""

    def __init__(self, status: int, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.detail = detail or reason


@dataclass(frozen=True)
class InboxResult:
    stored: bool
    duplicate: bool = False
    activity_id: str | None = None


def json_limits(settings: Settings) -> JsonLimits:
    return JsonLimits(max_depth=settings.max_json_depth, max_items=settings.max_json_items)


def ld_limits(settings: Settings) -> ldworker.LdLimits:
    return ldworker.LdLimits(
        max_bytes=settings.max_ld_bytes,
        time_budget=float(settings.ld_time_budget),
        workers=settings.ld_workers,
    )


def parse_activity(body: bytes, limits: JsonLimits) -> dict[str, Any]:
    """The JSON body as an activity with an id, a type and an actor, or a 400."""
    try:
        doc = parse_json(body, limits)
    except JsonShapeError as exc:
        raise InboxRefusal(400, exc.reason) from None
    if not isinstance(doc, dict):
        raise InboxRefusal(400, "body is not a JSON object")
    if not http_url(doc.get("id")):
        raise InboxRefusal(400, "activity has no http(s) id")
    if not types_of(doc):
        raise InboxRefusal(400, "activity has no type")
    if not http_url(actor_of(doc)):
        raise InboxRefusal(400, "activity has no actor")
    return doc


def read_claim(
    settings: Settings, *, method: str, url: str, headers: Mapping[str, str], body: bytes
) -> SignatureClaim:
    """The signature claim, checked without any key (see service.signatures)."""
    try:
        return read_signature(settings, method=method, url=url, headers=headers, body=body)
    except SignatureError as exc:
        raise InboxRefusal(401, f"signature: {exc.reason}") from None


async def check_domains(
    settings: Settings, claim: SignatureClaim, actor: str, group_id: int | None = None
) -> None:
    """Neither the key's nor the actor's domain may be suspended (in any spelling); a host
    no rule could name is refused outright, or it would pass every rule. At a group's own
    inbox, the group's rules count too."""
    key_host, actor_host = host_or_none(claim.key_id), host_or_none(actor)
    if key_host is None:
        raise InboxRefusal(401, "signature: keyId names no valid host")
    if actor_host is None:
        raise InboxRefusal(400, "actor names no valid host")
    if await host_is_suspended(settings, key_host, actor_host, group_id=group_id):
        raise InboxRefusal(403, "domain is suspended")


def check_origin(doc: dict[str, Any], actor: str) -> None:
    """The activity's id must be on its actor's origin."""
    if not same_origin(doc["id"], actor):
        raise InboxRefusal(403, "activity id is not on the actor's origin")


async def verify_signer(fetcher: Fetcher, claim: SignatureClaim) -> str:
    """The actor whose key made the signature (see service.signatures)."""
    try:
        return await verified_signer(fetcher, claim)
    except UnverifiedSignature as exc:
        raise InboxRefusal(401, exc.reason, exc.detail) from None


async def _keys_named(fetcher: Fetcher, key_id: str | None, actor: str) -> list[ResolvedKey]:
    """The actor's own keys an embedded signature names, if any."""
    if not key_id:
        return []
    try:
        keys = await resolve_key(fetcher, key_id)
    except ActorLookupError as exc:
        log.info("embedded signature key unavailable: %s", exc.reason)
        return []
    return [key for key in keys if key.owner == actor]


async def _embedded_signature_by(
    fetcher: Fetcher, doc: dict[str, Any], actor: str, limits: ldworker.LdLimits
) -> dict[str, Any] | None:
    """The activity as covered by a verifying embedded proof or LD signature by `actor`.

    The LD signature is checked in a JSON-LD worker process within its time budget (see
    activitypub.ldworker); a document it refuses counts as unsigned."""
    for key in await _keys_named(fetcher, proof.proof_verification_method(doc), actor):
        if isinstance(key.public_key, ed25519.Ed25519PublicKey) and proof.verify_proof(
            doc, key.public_key
        ):
            await remember_key(key)
            return doc  # JCS covers every byte of the document
    for key in await _keys_named(fetcher, ldsig.signature_creator(doc), actor):
        if not isinstance(key.public_key, rsa.RSAPublicKey):
            continue
        # Only what the signature covers may be trusted: terms outside every context
        # are dropped by canonicalization, so a forwarder could have changed them.
        covered = await ldworker.verify_and_compact(doc, public_key_pem(key.public_key), limits)
        if covered is not None:
            await remember_key(key)
            return covered
    return None


async def _fetched_from_origin(
    fetcher: Fetcher, doc: dict[str, Any], actor: str
) -> dict[str, Any] | None:
    """The activity as its origin serves it, if it does and it says the same actor."""
    try:
        fetched = await fetcher.get_document(doc["id"])
    except FetchError as exc:
        log.info("forwarded activity %s not fetchable: %s", doc["id"], exc.reason)
        return None
    if fetched.get("id") != doc["id"] or actor_of(fetched) != actor:
        return None
    return fetched


async def trusted_document(
    fetcher: Fetcher,
    doc: dict[str, Any],
    actor: str,
    signer: str,
    limits: ldworker.LdLimits,
) -> dict[str, Any]:
    """The activity as we may believe it: as received when its actor signed the request,
    else as vouched for by the actor's embedded signature, or as its origin serves it."""
    if signer == actor:
        return doc
    unchecked = ""
    try:
        trusted = await _embedded_signature_by(fetcher, doc, actor, limits)
    except ldworker.LdRefused as refused:
        trusted, unchecked = None, f"; its embedded signature was not checked: {refused.reason}"
    if trusted is None:
        trusted = await _fetched_from_origin(fetcher, doc, actor)
    if trusted is None:
        raise InboxRefusal(401, f"signed by {signer}, not by the actor {actor}{unchecked}")
    return trusted


async def receive_activity(
    fetcher: Fetcher,
    settings: Settings,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    group_id: int | None,
    writer: InboxWriter,
) -> InboxResult:
    """Verify and store one inbound activity; raises InboxRefusal for anything refused."""
    doc = parse_activity(body, json_limits(settings))
    actor = actor_of(doc) or ""
    claim = read_claim(settings, method=method, url=url, headers=headers, body=body)
    await check_domains(settings, claim, actor, group_id)
    check_origin(doc, actor)
    try:
        signer = await verify_signer(fetcher, claim)
    except InboxRefusal:
        if _is_self_delete(doc, actor):
            # A deleted account's key is gone (410); there is nothing of theirs to verify.
            log.info("unverifiable self-delete of %s dropped", actor)
            return InboxResult(stored=False, activity_id=doc["id"])
        raise
    doc = await trusted_document(fetcher, doc, actor, signer, ld_limits(settings))
    result = await store_inbound(writer, doc, group_id)
    # Whatever a server sends us proves it is up: deliveries to it resume at once.
    signer_instance = authority_or_none(signer) or ""
    await mark_alive(signer_instance)
    await learn_scheme_from_inbound(signer_instance, claim.scheme)
    return result


def _is_self_delete(doc: dict[str, Any], actor: str) -> bool:
    return has_type(doc, "Delete") and id_of(doc.get("object")) == actor


async def store_inbound(
    writer: InboxWriter, doc: dict[str, Any], group_id: int | None
) -> InboxResult:
    """Store a verified activity for the inbound worker, once per id.

    Its type is the one we handle among the types it lists (`type` is a set in JSON-LD).
    """
    kind = type_in(doc, HANDLERS) or next(iter(types_of(doc)), "")
    row = InboundRow(
        ap_id=doc["id"],
        type=kind[:32],
        actor=actor_of(doc) or "",
        object_id=(id_of(doc.get("object")) or "")[:2048] or None,
        group_id=group_id,
        payload=doc,
    )
    try:
        stored = await writer.store(row)
    except StoreFailed as exc:
        raise InboxRefusal(503, f"not stored, try again later ({exc})") from None
    return InboxResult(stored=stored, duplicate=not stored, activity_id=doc["id"])
