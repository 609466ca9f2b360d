"""JSON-LD processing that never touches the network.

Remote contexts are served only from the bundled copies in `fedgroup.activitypub.contexts`;
any other context URL is refused. A remote peer must not be able to make us fetch a URL (or
wait on one) just by naming it in `@context`, and canonical forms must not change because a
context host changed its document.

Every pyld call here passes its own document loader and context resolver, so nothing depends
on pyld's process-wide defaults that other code might change.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urldefrag

from cachetools import LRUCache
from pyld import jsonld as pyld
from pyld.context_resolver import ContextResolver

from fedgroup.activitypub.contexts import BUNDLED_CONTEXTS, load_context

#: Other spellings of bundled contexts seen in the wild.
_ALIASES: dict[str, str] = {
    # The litepub.social site serves the same document at its root.
    "https://litepub.social/context.jsonld": "https://litepub.social/litepub/context.jsonld",
}

# Resolved contexts, private to this module: a context pyld resolved through some other
# loader can never leak into our canonical forms.
_resolved_contexts: LRUCache = LRUCache(maxsize=64)


class ContextNotBundledError(LookupError):
    """A document named a remote context we do not ship; we never fetch it."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"JSON-LD context {url!r} is not bundled; remote contexts are never fetched"
        )
        self.url = url


class JsonLdProcessingError(ValueError):
    """The document could not be processed as JSON-LD (bad context, unknown context…)."""


def bundled_context_url(url: str) -> str | None:
    """Map a context URL to the canonical URL of a bundled context, or None.

    Accepts the `http://` spelling, a trailing `#` (or any fragment), a trailing `/`, and a
    `.jsonld`/`.json` suffix, because publishers and implementations write all of these.
    """
    if not isinstance(url, str):
        return None
    candidate, _fragment = urldefrag(url.strip())
    if candidate.startswith("http://"):
        candidate = "https://" + candidate[len("http://") :]
    candidate = candidate.rstrip("/")
    candidates = [candidate]
    for suffix in (".jsonld", ".json"):
        if candidate.endswith(suffix):
            candidates.append(candidate[: -len(suffix)])
    for name in candidates:
        name = _ALIASES.get(name, name)
        if name in BUNDLED_CONTEXTS:
            return name
    return None


def document_loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """pyld document loader serving bundled contexts only; raises ContextNotBundledError."""
    canonical = bundled_context_url(url)
    if canonical is None:
        raise ContextNotBundledError(url)
    # Tagged static: a bundled context never changes, so pyld may keep it resolved between
    # calls (untagged, it processed ActivityStreams' context anew for every signature).
    return {
        "contextUrl": None,
        "documentUrl": canonical,
        "document": load_context(canonical),
        "tag": "static",
    }


def _options(**extra: Any) -> dict[str, Any]:
    return {
        "documentLoader": document_loader,
        "contextResolver": ContextResolver(_resolved_contexts, document_loader),
        **extra,
    }


def _root_cause(error: BaseException) -> BaseException:
    seen: set[int] = set()
    while True:
        nxt = error.__cause__ or getattr(error, "cause", None) or error.__context__
        if not isinstance(nxt, BaseException) or id(nxt) in seen:
            return error
        seen.add(id(error))
        error = nxt


def _run(operation: str, call: Any) -> Any:
    try:
        return call()
    except pyld.JsonLdError as error:
        cause = _root_cause(error)
        if isinstance(cause, ContextNotBundledError):
            raise JsonLdProcessingError(f"{operation} failed: {cause}") from error
        raise JsonLdProcessingError(f"{operation} failed: {error.args[0]} ({cause})") from error


def canonicalize(doc: dict[str, Any]) -> str:
    """URDNA2015 canonical N-Quads of a JSON-LD document.

    Terms that no context defines are dropped, as JSON-LD expansion (and so every other
    implementation) drops them: they are not part of the canonical form and therefore not
    covered by a signature made over it. Terms caught by ActivityStreams' `"@vocab": "_:"`
    become blank-node predicates, which standard RDF has no place for, so they are dropped too.
    """
    return _run(
        "canonicalization",
        lambda: pyld.normalize(doc, _options(algorithm="URDNA2015", format="application/n-quads")),
    )


def expand(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Expanded form of a document, using bundled contexts only."""
    return _run("expansion", lambda: pyld.expand(doc, _options()))


def _drop_blank_node_properties(node: Any) -> Any:
    if isinstance(node, list):
        return [_drop_blank_node_properties(item) for item in node]
    if isinstance(node, dict):
        return {
            key: _drop_blank_node_properties(value)
            for key, value in node.items()
            if not key.startswith("_:")
        }
    return node


def compact_known_terms(doc: dict[str, Any]) -> dict[str, Any]:
    """The document reduced to what its canonical form (and so a signature) covers.

    An activity accepted on the strength of a Linked Data signature alone must be read
    through this: anything dropped here could have been added by whoever forwarded it.
    The result is compacted against the document's own `@context`.
    """
    context = copy.deepcopy(doc.get("@context", {}))
    expanded = _drop_blank_node_properties(expand(doc))
    compacted = _run("compaction", lambda: pyld.compact(expanded, context, _options()))
    return compacted
