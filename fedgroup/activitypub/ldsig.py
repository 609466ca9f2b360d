"""Linked Data Signatures (`RsaSignature2017`), as Mastodon and Fedify make and check them.

Inbox forwarding delivers an activity over HTTP signed by someone other than its actor; the
embedded `signature` is what proves the actor wrote it. Our groups sign what they send the
same way, so the servers that forward it on can be believed.

The signed data is `sha256hex(canon(options)) + sha256hex(canon(document))`, where `options`
is the signature object without `type`, `id` and `signatureValue`, under the identity v1
context, and `document` is everything but `signature`; `canon` is URDNA2015 N-Quads. Only
terms some bundled context defines take part (see `jsonld.canonicalize`): read a document
accepted on this signature alone through `jsonld.compact_known_terms`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from fedgroup.activitypub.jsonld import JsonLdProcessingError, canonicalize
from fedgroup.activitypub.vocab import has_type

SIGNATURE_TYPE = "RsaSignature2017"
IDENTITY_CONTEXT = "https://w3id.org/identity/v1"


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _signing_input(doc: dict[str, Any], options: dict[str, Any]) -> bytes:
    options = {k: v for k, v in options.items() if k not in ("type", "id", "signatureValue")}
    options["@context"] = IDENTITY_CONTEXT
    document = {k: v for k, v in doc.items() if k != "signature"}
    return (_sha256_hex(canonicalize(options)) + _sha256_hex(canonicalize(document))).encode()


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign_document(
    doc: dict[str, Any], *, private_key: RSAPrivateKey, key_id: str, created: str | None = None
) -> dict[str, Any]:
    """Return a copy of `doc` carrying an RsaSignature2017 `signature` by `key_id`.

    Any signature already present is replaced. Raises JsonLdProcessingError if the document
    names a context we do not bundle (we could not canonicalize it as others would).
    """
    options = {"creator": key_id, "created": created or _now()}
    digest_input = _signing_input(doc, options)
    value = private_key.sign(digest_input, padding.PKCS1v15(), hashes.SHA256())
    signed = {k: v for k, v in doc.items() if k != "signature"}
    signed["signature"] = {
        "type": SIGNATURE_TYPE,
        "creator": key_id,
        "created": options["created"],
        "signatureValue": base64.b64encode(value).decode("ascii"),
    }
    return signed


def signature_creator(doc: dict[str, Any]) -> str | None:
    """Key id named by the document's RsaSignature2017 signature, or None if it has none."""
    signature = doc.get("signature")
    if not has_type(signature, SIGNATURE_TYPE):
        return None
    creator = signature.get("creator")
    return creator if isinstance(creator, str) and creator else None


def verify_document(doc: dict[str, Any], public_key: RSAPublicKey) -> bool:
    """True if `doc` carries a valid RsaSignature2017 signature made with `public_key`.

    The caller fetches the key named by `signature_creator(doc)` and checks that its owner is
    the activity's actor. Anything malformed, or a context we do not bundle, is False.
    """
    signature = doc.get("signature")
    if signature_creator(doc) is None or not isinstance(public_key, RSAPublicKey):
        return False
    value = signature.get("signatureValue")
    if not isinstance(value, str):
        return False
    try:
        raw = base64.b64decode(value, validate=True)
        digest_input = _signing_input(doc, signature)
        public_key.verify(raw, digest_input, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, JsonLdProcessingError, InvalidSignature, ValueError, TypeError):
        return False
    return True
