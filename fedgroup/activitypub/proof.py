"""FEP-8b32 Object Integrity Proofs: `DataIntegrityProof` with cryptosuite `eddsa-jcs-2022`.

Fedify attaches such a proof (Ed25519) to every activity it sends, so an activity forwarded
to us can be checked against its actor's key without trusting whoever delivered it.

Per W3C vc-di-eddsa, the signed bytes are `sha256(JCS(proofConfig)) || sha256(JCS(document))`
where `proofConfig` is the proof without `proofValue` (carrying the document's `@context`) and
`document` is the object without `proof`. JCS is RFC 8785, implemented here.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedgroup.activitypub.multikey import MultibaseError, multibase_decode, multibase_encode
from fedgroup.activitypub.vocab import has_type

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"

# ---------------------------------------------------------------------------------------------
# RFC 8785 JSON Canonicalization Scheme


class CanonicalizationError(ValueError):
    """A value JCS cannot represent (NaN, infinity, lone surrogate, non-JSON type)."""


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _serialize_string(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            raise CanonicalizationError("string holds a lone UTF-16 surrogate")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def serialize_number(value: int | float) -> str:
    """ECMAScript Number::toString of the IEEE-754 double nearest `value` (RFC 8785 §3.2.2.3).

    JSON numbers are doubles to the JavaScript signers we talk to, so integers are treated the
    same way (2**53 + 1 serializes as 9007199254740992).
    """
    try:
        number = float(value)
    except OverflowError:
        raise CanonicalizationError("number out of IEEE-754 double range") from None
    if not math.isfinite(number):
        raise CanonicalizationError("NaN and infinities have no JSON form")
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    # repr() gives the shortest digit string that round-trips, as ECMAScript requires.
    _, digit_tuple, exponent = Decimal(repr(abs(number))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len("".join(map(str, digit_tuple))) - len(digits)
    k = len(digits)
    n = k + exponent  # value = 0.digits * 10**n
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        exp = n - 1
        exp_text = ("+" if exp >= 0 else "-") + str(abs(exp))
        body = (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + exp_text
    return sign + body


def _utf16_units(key: str) -> bytes:
    # Big-endian UTF-16 bytes order exactly as the code units do.
    return key.encode("utf-16-be", "surrogatepass")


def _serialize(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_serialize_string(value))
    elif isinstance(value, (int, float)):
        out.append(serialize_number(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _serialize(item, out)
        out.append("]")
    elif isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise CanonicalizationError("object keys must be strings")
        out.append("{")
        # Property names sort by their UTF-16 code units, not by code points.
        for index, key in enumerate(sorted(value, key=_utf16_units)):
            if index:
                out.append(",")
            out.append(_serialize_string(key))
            out.append(":")
            _serialize(value[key], out)
        out.append("}")
    else:
        raise CanonicalizationError(f"{type(value).__name__} is not a JSON value")


def jcs_canonicalize(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON value (as parsed by `json.loads`)."""
    out: list[str] = []
    _serialize(value, out)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates inside object keys are caught here
        raise CanonicalizationError("string holds a lone UTF-16 surrogate") from None


# ---------------------------------------------------------------------------------------------
# eddsa-jcs-2022


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash_data(unsecured: dict[str, Any], proof_config: dict[str, Any]) -> bytes:
    return (
        hashlib.sha256(jcs_canonicalize(proof_config)).digest()
        + hashlib.sha256(jcs_canonicalize(unsecured)).digest()
    )


def _proofs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    proof = doc.get("proof")
    items = proof if isinstance(proof, list) else [proof]
    return [
        p
        for p in items
        if isinstance(p, dict)
        and has_type(p, PROOF_TYPE)
        and p.get("cryptosuite") == CRYPTOSUITE
    ]


def create_proof(
    doc: dict[str, Any],
    *,
    private_key: Ed25519PrivateKey,
    verification_method: str,
    created: str | None = None,
    proof_purpose: str = "assertionMethod",
) -> dict[str, Any]:
    """Return a copy of `doc` with an eddsa-jcs-2022 proof by `verification_method` added.

    A proof already present is kept and the new one joins it in a proof set (a list); each
    proof in a set covers the document without any proof.
    """
    unsecured = {k: v for k, v in doc.items() if k != "proof"}
    proof_config: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
        "created": created or _now(),
    }
    if "@context" in unsecured:
        proof_config["@context"] = unsecured["@context"]
    signature = private_key.sign(_hash_data(unsecured, proof_config))
    new_proof = {**proof_config, "proofValue": multibase_encode(signature)}
    existing = doc.get("proof")
    secured = dict(unsecured)
    if existing is None:
        secured["proof"] = new_proof
    else:
        secured["proof"] = [*(existing if isinstance(existing, list) else [existing]), new_proof]
    return secured


def proof_verification_method(doc: dict[str, Any]) -> str | None:
    """`verificationMethod` of the first eddsa-jcs-2022 proof, or None: the key to fetch."""
    for proof in _proofs(doc):
        method = proof.get("verificationMethod")
        if isinstance(method, str) and method:
            return method
    return None


def _verify_one(doc: dict[str, Any], proof: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    value = proof.get("proofValue")
    if not isinstance(value, str):
        return False
    try:
        signature = multibase_decode(value)
    except MultibaseError:
        return False
    proof_config = {k: v for k, v in proof.items() if k != "proofValue"}
    unsecured = {k: v for k, v in doc.items() if k != "proof"}
    if "@context" in proof_config:
        # The document's context must begin with the proof's, which then stands for it.
        proof_ctx = proof_config["@context"]
        proof_list = proof_ctx if isinstance(proof_ctx, list) else [proof_ctx]
        doc_ctx = unsecured.get("@context")
        doc_list = doc_ctx if isinstance(doc_ctx, list) else [doc_ctx]
        if doc_list[: len(proof_list)] != proof_list:
            return False
        unsecured["@context"] = proof_ctx
    try:
        public_key.verify(signature, _hash_data(unsecured, proof_config))
    except (InvalidSignature, CanonicalizationError):
        return False
    return True


def verify_proof(
    doc: dict[str, Any], public_key: Ed25519PublicKey, *, verification_method: str | None = None
) -> bool:
    """True if some eddsa-jcs-2022 proof on `doc` verifies with `public_key`.

    With `verification_method`, only proofs naming that key are tried. Fedify adds its
    RsaSignature2017 `signature` after the proof, so a proof that fails over the document is
    tried again over the document without `signature`: that field is then simply not covered
    by the proof (it carries its own signature).
    """
    if not isinstance(public_key, Ed25519PublicKey):
        return False
    for proof in _proofs(doc):
        named = proof.get("verificationMethod")
        if verification_method is not None and named != verification_method:
            continue
        if _verify_one(doc, proof, public_key):
            return True
        if "signature" in doc:
            without_signature = {k: v for k, v in doc.items() if k != "signature"}
            if _verify_one(without_signature, proof, public_key):
                return True
    return False
