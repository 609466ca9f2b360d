"""Regression for a bug the Fedify peers found: LD-signed group activities Fedify cannot hash.

Fedify verifies RsaSignature2017 with jsonld.js in *safe mode*, which refuses a document in
which some property expands to a blank-node predicate (a term no context defines; the
ActivityStreams context maps those to `_:` through `"@vocab": "_:"`). A verifier removes the
top-level `signature` before hashing, but anything *nested* must be defined.

fedgroup withdraws a boost with `Undo{Announce}` embedding the stored, LD-signed Announce,
under the ActivityStreams context alone: the nested `signature` (and its `created`,
`creator`, `signatureValue`) are undefined there, so Fedify logs "Failed to verify; failed
to hash the document … Safe mode validation error … Dropping blank node predicate" for every
such Undo (it still accepts it on the HTTP signature; a forwarded copy would be dropped).
The interop twin is test_group_posting.py::test_author_delete_withdraws_the_post.
"""

from __future__ import annotations

from typing import Any

import pytest

from fedgroup.activitypub import builders, ldsig
from fedgroup.activitypub.jsonld import expand
from fedgroup.activitypub.keys import generate_rsa_key_pair, load_private_key

GROUP = "https://groups.example/groups/jazz"
AUTHOR = "https://social.example/users/alice"
NOTE = "https://social.example/users/alice/statuses/1"


def blank_node_predicates(node: Any, path: str = "") -> list[str]:
    """Paths of properties that expanded to `_:` predicates (what safe mode refuses)."""
    found: list[str] = []
    if isinstance(node, list):
        for item in node:
            found += blank_node_predicates(item, path)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("_:"):
                found.append(f"{path}/{key}")
            found += blank_node_predicates(value, f"{path}/{key}")
    return found


def as_a_verifier_hashes_it(signed: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in signed.items() if key != "signature"}


@pytest.fixture(scope="module")
def group_key() -> Any:
    private_pem, _ = generate_rsa_key_pair()
    return load_private_key(private_pem)


def sign(doc: dict[str, Any], key: Any) -> dict[str, Any]:
    """As fedgroup's outbound queue signs every group activity."""
    return ldsig.sign_document(doc, private_key=key, key_id=GROUP + "#main-key")


def test_signed_boost_hashes_in_safe_mode(group_key: Any) -> None:
    boost = builders.announce_boost(
        "https://groups.example/activities/1",
        GROUP,
        GROUP + "/followers",
        NOTE,
        AUTHOR,
        "2026-11-23T12:00:00Z",
    )
    signed = sign(boost, group_key)
    assert blank_node_predicates(expand(as_a_verifier_hashes_it(signed))) == []


def test_signed_undo_of_a_signed_boost_hashes_in_safe_mode(group_key: Any) -> None:
    boost = sign(
        builders.announce_boost(
            "https://groups.example/activities/1",
            GROUP,
            GROUP + "/followers",
            NOTE,
            AUTHOR,
            "2026-11-23T12:00:00Z",
        ),
        group_key,
    )
    undo = sign(builders.undo("https://groups.example/activities/2", GROUP, boost), group_key)
    assert blank_node_predicates(expand(as_a_verifier_hashes_it(undo))) == []
