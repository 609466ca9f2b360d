"""Bundled contexts and the offline JSON-LD loader."""

from __future__ import annotations

import json

import pytest
from pyld import jsonld as pyld

from fedgroup.activitypub import jsonld
from fedgroup.activitypub.contexts import BUNDLED_CONTEXTS, load_context

AS = "https://www.w3.org/ns/activitystreams"


@pytest.mark.parametrize("url", sorted(BUNDLED_CONTEXTS))
def test_every_bundled_context_is_served_and_usable(url: str) -> None:
    loaded = jsonld.document_loader(url)
    assert loaded["documentUrl"] == url
    assert "@context" in loaded["document"]
    # Processing a document under it must work without any network access.
    jsonld.expand({"@context": [AS, url], "type": "Note", "id": "https://a.example/1"})


def test_bundled_contexts_are_the_published_documents() -> None:
    as_ctx = load_context(AS)["@context"]
    assert as_ctx["as"] == "https://www.w3.org/ns/activitystreams#"
    assert as_ctx["sharedInbox"] == {"@id": "as:sharedInbox", "@type": "@id"}
    security = load_context("https://w3id.org/security/v1")["@context"]
    assert security["publicKeyPem"] == "sec:publicKeyPem"
    identity = load_context("https://w3id.org/identity/v1")["@context"]
    assert identity["created"] == {"@id": "dc:created", "@type": "xsd:dateTime"}
    di = load_context("https://w3id.org/security/data-integrity/v1")["@context"]
    assert di["proof"]["@container"] == "@graph"
    lemmy = load_context("https://join-lemmy.org/context.json")["@context"]
    assert lemmy[0] == "https://w3id.org/security/v1"
    assert lemmy[1]["moderators"] == {"@type": "@id", "@id": "lemmy:moderators"}


def test_load_context_returns_a_private_copy() -> None:
    first = load_context(AS)
    first["@context"]["Note"] = "mutated"
    assert load_context(AS)["@context"]["Note"] == "as:Note"


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("https://www.w3.org/ns/activitystreams", AS),
        ("http://www.w3.org/ns/activitystreams", AS),
        ("https://www.w3.org/ns/activitystreams#", AS),
        ("https://www.w3.org/ns/activitystreams.jsonld", AS),
        ("https://www.w3.org/ns/activitystreams/", AS),
        ("http://w3id.org/security/v1", "https://w3id.org/security/v1"),
        ("https://w3id.org/security/v1.jsonld", "https://w3id.org/security/v1"),
        (
            "http://litepub.social/litepub/context.jsonld",
            "https://litepub.social/litepub/context.jsonld",
        ),
        ("https://litepub.social/context.jsonld", "https://litepub.social/litepub/context.jsonld"),
        ("https://join-lemmy.org/context.json", "https://join-lemmy.org/context.json"),
        ("https://gotosocial.org/ns#", "https://gotosocial.org/ns"),
    ],
)
def test_context_url_spellings(spelling: str, canonical: str) -> None:
    assert jsonld.bundled_context_url(spelling) == canonical


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/context.jsonld",
        "https://www.w3.org/ns/activitystreams-evil",
        "https://pleroma.example/schemas/litepub-0.1.jsonld",
        "file:///etc/passwd",
        "",
    ],
)
def test_unbundled_context_is_refused(url: str) -> None:
    with pytest.raises(jsonld.ContextNotBundledError):
        jsonld.document_loader(url)


def test_document_naming_an_unbundled_context_fails_with_a_clear_error() -> None:
    doc = {"@context": [AS, "https://evil.example/ctx"], "type": "Note", "content": "x"}
    with pytest.raises(jsonld.JsonLdProcessingError, match="evil.example/ctx.*not bundled"):
        jsonld.canonicalize(doc)


def test_pyld_global_loader_is_never_used() -> None:
    calls: list[str] = []

    def network_loader(url: str, options: object = None) -> dict:
        calls.append(url)
        raise AssertionError("network loader used")

    previous = pyld.get_document_loader()
    pyld.set_document_loader(network_loader)
    try:
        nquads = jsonld.canonicalize({"@context": AS, "id": "https://a.example/n", "type": "Note"})
    finally:
        pyld.set_document_loader(previous)
    assert calls == []
    assert "<https://www.w3.org/ns/activitystreams#Note>" in nquads


def test_canonical_form_ignores_key_order_and_whitespace() -> None:
    doc = {
        "@context": AS,
        "id": "https://a.example/n",
        "type": "Note",
        "content": "hello",
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
    }
    reordered = json.loads(json.dumps(dict(reversed(list(doc.items()))), indent=4))
    assert jsonld.canonicalize(doc) == jsonld.canonicalize(reordered)
    assert jsonld.canonicalize(doc) != jsonld.canonicalize({**doc, "content": "hell0"})


def test_unknown_terms_are_left_out_of_the_canonical_form() -> None:
    doc = {
        "@context": [AS, {"toot": "http://joinmastodon.org/ns#", "Emoji": "toot:Emoji"}],
        "id": "https://a.example/n",
        "type": "Note",
        "content": "hello",
        "someVendorExtension": {"nested": True},
    }
    plain = jsonld.canonicalize({k: v for k, v in doc.items() if k != "someVendorExtension"})
    assert jsonld.canonicalize(doc) == plain
    assert "someVendorExtension" not in jsonld.canonicalize(doc)


def test_compact_known_terms_keeps_only_what_a_signature_covers() -> None:
    doc = {
        "@context": [AS, "https://w3id.org/security/v1"],
        "id": "https://a.example/n",
        "type": "Note",
        "content": "hello",
        "inReplyTo": "https://b.example/1",
        "injected": "not covered",
        "object": {"id": "https://a.example/o", "type": "Note", "smuggled": 1},
    }
    compacted = jsonld.compact_known_terms(doc)
    assert compacted["content"] == "hello"
    assert compacted["inReplyTo"] == "https://b.example/1"
    assert "injected" not in compacted
    assert compacted["object"] == {"id": "https://a.example/o", "type": "Note"}
