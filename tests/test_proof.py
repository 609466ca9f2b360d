"""FEP-8b32 eddsa-jcs-2022 proofs, RFC 8785 JCS, multibase and Multikey."""

from __future__ import annotations

import copy
import hashlib
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from fedgroup.activitypub import multikey, proof
from fedgroup.activitypub.proof import CanonicalizationError, jcs_canonicalize, serialize_number

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text("utf-8"))


# --- RFC 8785 -------------------------------------------------------------------------------


def test_rfc8785_section_3_2_2_example() -> None:
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert jcs_canonicalize(json.loads(source)) == expected.encode("utf-8")


def test_rfc8785_section_3_2_3_sorting() -> None:
    source = json.loads(
        '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet",'
        ' "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control",'
        ' "\\u00f6": "Latin Small Letter O With Diaeresis"}'
    )
    keys = list(json.loads(jcs_canonicalize(source)))
    # U+1F600 sorts before U+FB33: JCS compares UTF-16 code units, not code points.
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("bits", "expected"),
    [  # RFC 8785 Appendix B
        ("0000000000000000", "0"),
        ("8000000000000000", "0"),
        ("0000000000000001", "5e-324"),
        ("8000000000000001", "-5e-324"),
        ("7fefffffffffffff", "1.7976931348623157e+308"),
        ("ffefffffffffffff", "-1.7976931348623157e+308"),
        ("4340000000000000", "9007199254740992"),
        ("c340000000000000", "-9007199254740992"),
        ("4430000000000000", "295147905179352830000"),
        ("44b52d02c7e14af5", "9.999999999999997e+22"),
        ("44b52d02c7e14af6", "1e+23"),
        ("44b52d02c7e14af7", "1.0000000000000001e+23"),
        ("444b1ae4d6e2ef4e", "999999999999999700000"),
        ("444b1ae4d6e2ef4f", "999999999999999900000"),
        ("444b1ae4d6e2ef50", "1e+21"),
        ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
        ("3eb0c6f7a0b5ed8d", "0.000001"),
        ("41b3de4355555553", "333333333.3333332"),
        ("41b3de4355555554", "333333333.33333325"),
        ("41b3de4355555555", "333333333.3333333"),
        ("41b3de4355555556", "333333333.3333334"),
        ("41b3de4355555557", "333333333.33333343"),
        ("becbf647612f3696", "-0.0000033333333333333333"),
        ("43143ff3c1cb0959", "1424953923781206.2"),
    ],
)
def test_rfc8785_appendix_b_numbers(bits: str, expected: str) -> None:
    assert serialize_number(struct.unpack(">d", bytes.fromhex(bits))[0]) == expected


def test_numbers_match_ecmascript_on_thousands_of_doubles() -> None:
    """Bit patterns serialized by node's JSON.stringify (tests/tools/make_jcs_numbers.mjs)."""
    cases = load("jcs_numbers_ecmascript.json")["cases"]
    assert len(cases) > 4000
    wrong = [
        (bits, expected)
        for bits, expected in cases
        if serialize_number(struct.unpack(">d", bytes.fromhex(bits))[0]) != expected
    ]
    assert wrong == []


def test_integers_are_doubles() -> None:
    assert jcs_canonicalize([0, -0.0, 10, 2**53 + 1, 10**21, 10**30]) == (
        b"[0,0,10,9007199254740992,1e+21,1e+30]"
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 10**400])
def test_unrepresentable_numbers_are_refused(bad: float) -> None:
    with pytest.raises(CanonicalizationError):
        jcs_canonicalize({"n": bad})


@pytest.mark.parametrize("bad", ["\ud800", {"\udfff": 1}, {1: "x"}, {"s": {1, 2}}, b"bytes"])
def test_non_json_values_are_refused(bad: object) -> None:
    with pytest.raises(CanonicalizationError):
        jcs_canonicalize(bad)


def test_control_characters_are_escaped_lowercase() -> None:
    text = "".join(chr(c) for c in range(0x20)) + "\x7f\u2028é"
    out = jcs_canonicalize(text).decode("utf-8")
    assert out.startswith('"\\u0000\\u0001')
    assert "\\b\\t\\n\\u000b\\f\\r" in out
    assert "\\u001f" in out
    assert out.endswith('\x7f\u2028é"')
    assert json.loads(out) == text


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=5), children)
    ),
    max_leaves=12,
)


@given(json_values)
def test_jcs_output_is_json_for_the_same_value(value: object) -> None:
    out = jcs_canonicalize(value)
    # Every JSON number is a double to JCS, so compare numbers as doubles.
    assert json.loads(out, parse_int=float) == json.loads(json.dumps(value), parse_int=float)
    # Canonical: canonicalizing the parsed output again changes nothing.
    assert jcs_canonicalize(json.loads(out)) == out


# --- multibase / Multikey -------------------------------------------------------------------


@given(st.binary(max_size=80))
def test_base58btc_round_trip(data: bytes) -> None:
    assert multikey.base58btc_decode(multikey.base58btc_encode(data)) == data
    assert multikey.multibase_decode(multikey.multibase_encode(data)) == data


def test_base58btc_known_values() -> None:
    assert multikey.base58btc_encode(b"Hello World!") == "2NEpo7TZRRrLZSi2U"
    assert multikey.base58btc_encode(b"\0\0\x01") == "112"
    assert multikey.base58btc_decode("") == b""


@pytest.mark.parametrize("bad", ["z0OIl", "f00", "", "zabc+"])
def test_multibase_refuses_bad_input(bad: str) -> None:
    with pytest.raises(multikey.MultibaseError):
        multikey.multibase_decode(bad)


def test_multikey_rejects_other_codecs() -> None:
    rsa_like = multikey.multibase_encode(b"\x85\x24" + bytes(32))
    with pytest.raises(multikey.MultibaseError):
        multikey.decode_ed25519_public_multikey(rsa_like)
    short = multikey.multibase_encode(b"\xed\x01" + bytes(31))
    with pytest.raises(multikey.MultibaseError):
        multikey.decode_ed25519_public_multikey(short)


def test_multikey_round_trip() -> None:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    encoded = multikey.encode_ed25519_public_multikey(public)
    assert encoded.startswith("z6Mk")
    assert multikey.decode_ed25519_public_multikey(encoded) == public


# --- W3C vc-di-eddsa test vector ------------------------------------------------------------


@pytest.fixture(scope="module")
def w3c() -> dict:
    return load("vc_di_eddsa_jcs_2022.json")


def test_w3c_key_pair_decodes_consistently(w3c: dict) -> None:
    private = multikey.decode_ed25519_private_multikey(w3c["keyPair"]["privateKeyMultibase"])
    public = multikey.decode_ed25519_public_multikey(w3c["keyPair"]["publicKeyMultibase"])
    assert (
        multikey.encode_ed25519_public_multikey(private.public_key())
        == (w3c["keyPair"]["publicKeyMultibase"])
    )
    assert private.public_key() == public


def test_w3c_canonical_forms_and_hash(w3c: dict) -> None:
    unsecured = {k: v for k, v in w3c["signed"].items() if k != "proof"}
    assert jcs_canonicalize(unsecured).decode("utf-8") == w3c["canonDocJCS"]
    config = w3c["didKeyProofConfig"]
    assert jcs_canonicalize(config).decode("utf-8") == w3c["didKeyProofCanonJCS"]
    combined = (
        hashlib.sha256(jcs_canonicalize(config)).digest()
        + hashlib.sha256(jcs_canonicalize(unsecured)).digest()
    )
    assert combined.hex() == w3c["didKeyCombinedHashJCS"]


def test_w3c_proof_is_reproduced_byte_for_byte(w3c: dict) -> None:
    private = multikey.decode_ed25519_private_multikey(w3c["keyPair"]["privateKeyMultibase"])
    expected = w3c["signed"]["proof"]
    unsecured = {k: v for k, v in w3c["signed"].items() if k != "proof"}
    ours = proof.create_proof(
        unsecured,
        private_key=private,
        verification_method=expected["verificationMethod"],
        created=expected["created"],
    )
    assert ours["proof"]["proofValue"] == expected["proofValue"]
    assert ours["proof"] == expected


def test_w3c_signed_credential_verifies(w3c: dict) -> None:
    public = multikey.decode_ed25519_public_multikey(w3c["keyPair"]["publicKeyMultibase"])
    assert proof.verify_proof(w3c["signed"], public)
    assert (
        proof.proof_verification_method(w3c["signed"])
        == (w3c["signed"]["proof"]["verificationMethod"])
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["credentialSubject"].__setitem__("alumniOf", "The School of Exemples"),
        lambda d: d["proof"].__setitem__("created", "2023-02-24T23:36:39Z"),
        lambda d: d["proof"].__setitem__("proofPurpose", "authentication"),
        lambda d: d["proof"].__setitem__("@context", ["https://www.w3.org/ns/credentials/v2"]),
        lambda d: d.__setitem__("@context", ["https://www.w3.org/ns/credentials/v2"]),
        lambda d: d["proof"].__setitem__("proofValue", d["proof"]["proofValue"][:-1] + "5"),
        lambda d: d["proof"].__setitem__("proofValue", "u" + d["proof"]["proofValue"][1:]),
        lambda d: d["proof"].__setitem__("cryptosuite", "eddsa-rdfc-2022"),
        lambda d: d.pop("proof"),
    ],
)
def test_w3c_tampering_fails(w3c: dict, tamper) -> None:
    public = multikey.decode_ed25519_public_multikey(w3c["keyPair"]["publicKeyMultibase"])
    doc = copy.deepcopy(w3c["signed"])
    tamper(doc)
    assert not proof.verify_proof(doc, public)


# --- Fedify on the wire ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def fedify() -> dict:
    return load("fedify_create_note_signed.json")


def fedify_key(fedify: dict) -> ed25519.Ed25519PublicKey:
    return multikey.decode_ed25519_public_multikey(fedify["ed25519"]["publicKeyMultibase"])


def test_fedify_proof_verifies(fedify: dict) -> None:
    activity = fedify["activity"]
    assert proof.proof_verification_method(activity) == fedify["ed25519"]["verificationMethod"]
    assert proof.verify_proof(activity, fedify_key(fedify))
    assert proof.verify_proof(
        activity, fedify_key(fedify), verification_method=fedify["ed25519"]["verificationMethod"]
    )
    assert not proof.verify_proof(
        activity, fedify_key(fedify), verification_method="http://127.0.0.1:1/users/eve#key"
    )


def test_fedify_jwk_and_multikey_name_the_same_key(fedify: dict) -> None:
    import base64

    x = fedify["ed25519"]["publicKeyJwk"]["x"]
    raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
    assert ed25519.Ed25519PublicKey.from_public_bytes(raw) == fedify_key(fedify)


def test_fedify_proof_rejects_one_changed_byte(fedify: dict) -> None:
    raw = json.dumps(fedify["activity"], ensure_ascii=False)
    changes = [("Hello, group!", "Hello, group?"), ("127.0.0.2/users/bob", "127.0.0.2/users/bop")]
    for old, new in changes:
        tampered = json.loads(raw.replace(old, new, 1))
        assert not proof.verify_proof(tampered, fedify_key(fedify)), old


def test_fedify_proof_fails_with_another_key(fedify: dict) -> None:
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    assert not proof.verify_proof(fedify["activity"], other)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    assert not proof.verify_proof(fedify["activity"], rsa_key)  # type: ignore[arg-type]


# --- our own proofs -------------------------------------------------------------------------


def note() -> dict:
    return {
        "@context": [
            "https://www.w3.org/ns/activitystreams",
            "https://w3id.org/security/data-integrity/v1",
        ],
        "id": "https://groups.example/activities/7",
        "type": "Announce",
        "actor": "https://groups.example/groups/jazzpiano",
        "object": "https://social.example/users/ana/statuses/1",
        "to": "https://www.w3.org/ns/activitystreams#Public",
    }


def test_create_then_verify_single_proof() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    method = "https://groups.example/groups/jazzpiano#ed25519-key"
    signed = proof.create_proof(note(), private_key=key, verification_method=method)
    assert isinstance(signed["proof"], dict)
    assert signed["proof"]["@context"] == note()["@context"]
    assert signed["proof"]["proofValue"].startswith("z")
    assert proof.proof_verification_method(signed) == method
    assert proof.verify_proof(json.loads(json.dumps(signed)), key.public_key())
    signed["to"] = "https://groups.example/groups/jazzpiano/followers"
    assert not proof.verify_proof(signed, key.public_key())


def test_proof_set_as_a_list() -> None:
    first, second = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    one = proof.create_proof(note(), private_key=first, verification_method="https://a.example#1")
    both = proof.create_proof(one, private_key=second, verification_method="https://a.example#2")
    assert isinstance(both["proof"], list) and len(both["proof"]) == 2
    assert proof.verify_proof(both, first.public_key())
    assert proof.verify_proof(both, second.public_key())
    assert proof.verify_proof(both, second.public_key(), verification_method="https://a.example#2")
    assert not proof.verify_proof(
        both, second.public_key(), verification_method="https://a.example#1"
    )
    assert proof.proof_verification_method(both) == "https://a.example#1"


def test_document_without_context() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    doc = {"type": "Note", "content": "no context at all"}
    signed = proof.create_proof(doc, private_key=key, verification_method="https://a.example#k")
    assert "@context" not in signed["proof"]
    assert proof.verify_proof(signed, key.public_key())


def test_other_proof_kinds_are_ignored() -> None:
    doc = note()
    doc["proof"] = {"type": "Ed25519Signature2020", "verificationMethod": "https://a.example#k"}
    assert proof.proof_verification_method(doc) is None
    assert not proof.verify_proof(doc, ed25519.Ed25519PrivateKey.generate().public_key())
