"""Real payloads from ../shared/fixtures/real, rewritten onto our loopback fakes.

Their ids point at hosts that don't exist here; a test maps each foreign URL prefix to a
fake instance (or to our group) before signing and sending them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REAL_FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "real"


def load_fixture(relative: str) -> dict[str, Any]:
    return json.loads((REAL_FIXTURES / relative).read_text(encoding="utf-8"))


def rewrite(value: Any, mapping: dict[str, str]) -> Any:
    """Replace URL prefixes everywhere in a document, longest prefix first."""
    prefixes = sorted(mapping, key=len, reverse=True)

    def one(item: Any) -> Any:
        if isinstance(item, str):
            for prefix in prefixes:
                if item.startswith(prefix):
                    return mapping[prefix] + item[len(prefix) :]
            return item
        if isinstance(item, list):
            return [one(x) for x in item]
        if isinstance(item, dict):
            return {k: one(v) for k, v in item.items()}
        return item

    return one(value)


def rewrite_ids(document: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """`rewrite` a payload but leave its `@context` alone.

    A context URL names a vocabulary, not a place on the origin server (Pleroma's litepub
    context sits on the instance's own host); rewriting it would change meaning, not location.
    """
    rewritten = rewrite({k: v for k, v in document.items() if k != "@context"}, mapping)
    if "@context" in document:
        return {"@context": document["@context"], **rewritten}
    return rewritten
