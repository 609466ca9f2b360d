"""RsaSignature2017 Linked Data Signatures: ours, and Fedify's as captured on the wire."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from fedgroup.activitypub import jsonld, ldsig

FIXTURES = Path(__file__).parent / "fixtures"
KEY_ID = "https://groups.example/groups/jazzpiano#main-key"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def fedify() -> dict:
    return json.loads((FIXTURES / "fedify_create_note_signed.json").read_text("utf-8"))


def announce() -> dict:
    """A group Announce as Mastodon-family servers see it, with Mastodon's inline terms."""
    return {
        "@context": [
            "https://www.w3.org/ns/activitystreams",
            "https://w3id.org/security/v1",
            {"toot": "http://joinmastodon.org/ns#", "sensitive": "as:sensitive"},
        ],
        "id": "https://groups.example/activities/42",
        "type": "Announce",
        "actor": "https://groups.example/groups/jazzpiano",
        "published": "2026-11-22T12:00:00Z",
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": ["https://groups.example/groups/jazzpiano/followers"],
        "object": {
            "id": "https://social.example/users/ana/statuses/1",
            "type": "Note",
            "attributedTo": "https://social.example/users/ana",
            "content": "<p>Voicings for “Autumn Leaves” — 🎹</p>",
            "sensitive": False,
        },
    }


def test_sign_then_verify(key: rsa.RSAPrivateKey) -> None:
    signed = ldsig.sign_document(
        announce(), private_key=key, key_id=KEY_ID, created="2026-11-22T12:00:01Z"
    )
    assert signed["signature"]["type"] == "RsaSignature2017"
    assert signed["signature"]["creator"] == KEY_ID
    assert signed["signature"]["created"] == "2026-11-22T12:00:01Z"
    assert ldsig.signature_creator(signed) == KEY_ID
    assert ldsig.verify_document(signed, key.public_key())
    # A JSON round trip (what actually travels) keeps it valid.
    assert ldsig.verify_document(json.loads(json.dumps(signed)), key.public_key())


def test_sign_does_not_modify_input_and_defaults_created(key: rsa.RSAPrivateKey) -> None:
    doc = announce()
    original = copy.deepcopy(doc)
    signed = ldsig.sign_document(doc, private_key=key, key_id=KEY_ID)
    assert doc == original
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", signed["signature"]["created"])
    assert ldsig.verify_document(signed, key.public_key())


def test_resigning_replaces_the_old_signature(key: rsa.RSAPrivateKey) -> None:
    once = ldsig.sign_document(announce(), private_key=key, key_id="https://x.example/#k")
    twice = ldsig.sign_document(once, private_key=key, key_id=KEY_ID)
    assert twice["signature"]["creator"] == KEY_ID
    assert ldsig.verify_document(twice, key.public_key())


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["object"].__setitem__("content", "<p>Voicings for “Autumn Leaves” — 🎸</p>"),
        lambda d: d.__setitem__("actor", "https://evil.example/groups/jazzpiano"),
        lambda d: d["to"].append("https://evil.example/users/eve"),
        lambda d: d["object"].__setitem__("sensitive", True),
        lambda d: d["signature"].__setitem__("created", "2026-11-22T12:00:02Z"),
        lambda d: d["signature"].__setitem__("creator", "https://evil.example/users/eve#main-key"),
        lambda d: d["signature"].__setitem__(
            "signatureValue", "AAAA" + d["signature"]["signatureValue"][4:]
        ),
        lambda d: d["signature"].__setitem__("signatureValue", "not base64!"),
        lambda d: d["signature"].__setitem__("type", "RsaSignature2018"),
        lambda d: d.pop("signature"),
    ],
)
def test_any_change_fails(key: rsa.RSAPrivateKey, tamper) -> None:
    signed = ldsig.sign_document(
        announce(), private_key=key, key_id=KEY_ID, created="2026-11-22T12:00:01Z"
    )
    tamper(signed)
    assert not ldsig.verify_document(signed, key.public_key())


def test_wrong_key_fails(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    signed = ldsig.sign_document(announce(), private_key=key, key_id=KEY_ID)
    assert not ldsig.verify_document(signed, other_key.public_key())
    ed_key = ed25519.Ed25519PrivateKey.generate().public_key()
    assert not ldsig.verify_document(signed, ed_key)  # type: ignore[arg-type]


def test_fedify_signature_verifies(fedify: dict) -> None:
    activity = fedify["activity"]
    public_key = load_pem_public_key(fedify["rsa"]["publicKeyPem"].encode())
    assert ldsig.signature_creator(activity) == fedify["rsa"]["keyId"]
    assert ldsig.verify_document(activity, public_key)


def test_fedify_signature_rejects_one_changed_byte(fedify: dict) -> None:
    public_key = load_pem_public_key(fedify["rsa"]["publicKeyPem"].encode())
    raw = json.dumps(fedify["activity"], ensure_ascii=False)
    tampered = json.loads(raw.replace("Hello, group!", "Hello, group?", 1))
    assert tampered != fedify["activity"]
    assert not ldsig.verify_document(tampered, public_key)


def test_fedify_signature_covers_the_proof(fedify: dict) -> None:
    """Fedify signs after attaching its FEP-8b32 proof, so the proof is part of what it signs."""
    public_key = load_pem_public_key(fedify["rsa"]["publicKeyPem"].encode())
    tampered = copy.deepcopy(fedify["activity"])
    tampered["proof"]["created"] = "2020-01-01T00:00:00Z"
    assert not ldsig.verify_document(tampered, public_key)


def test_unknown_terms_do_not_crash_and_are_not_covered(key: rsa.RSAPrivateKey) -> None:
    doc = announce()
    doc["lemmyOnlyField"] = "original"
    doc["object"]["misskeyExtension"] = {"anything": [1, 2, 3]}
    signed = ldsig.sign_document(doc, private_key=key, key_id=KEY_ID)
    assert ldsig.verify_document(signed, key.public_key())

    # Terms no context defines take no part in the canonical form, as for every other
    # implementation; so they can change without breaking the signature...
    signed["lemmyOnlyField"] = "rewritten by a forwarder"
    assert ldsig.verify_document(signed, key.public_key())
    # ...and a reader of a document trusted on this signature must drop them.
    trusted = jsonld.compact_known_terms(signed)
    assert "lemmyOnlyField" not in trusted
    assert "misskeyExtension" not in trusted["object"]
    assert trusted["object"]["content"] == doc["object"]["content"]


def test_unbundled_context(key: rsa.RSAPrivateKey) -> None:
    doc = announce()
    doc["@context"].append("https://unknown.example/ns.jsonld")
    with pytest.raises(jsonld.JsonLdProcessingError):
        ldsig.sign_document(doc, private_key=key, key_id=KEY_ID)
    signed = ldsig.sign_document(announce(), private_key=key, key_id=KEY_ID)
    signed["@context"].append("https://unknown.example/ns.jsonld")
    assert not ldsig.verify_document(signed, key.public_key())


@pytest.mark.parametrize(
    "signature",
    [None, "a string", {"type": "RsaSignature2017"}, {"type": "Other", "creator": "https://x/#k"}],
)
def test_signature_creator_absent_or_malformed(signature: object) -> None:
    doc = announce()
    if signature is not None:
        doc["signature"] = signature
    assert ldsig.signature_creator(doc) is None
