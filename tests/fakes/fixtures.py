"""The conformance corpus (payloads captured from real software), and rewriting them onto our
loopback fakes.

The corpus is not part of this repository: `make test CONFORMANCE_CORPUS=DIR` (or pytest's
`--conformance-corpus DIR`, or the CONFORMANCE_CORPUS environment variable) names it, and a
test that takes the `conformance_corpus` fixture (tests/conftest.py) is in the conformance
suite: it runs only when a corpus is given. Its ids point at hosts that don't exist here; a
test maps each foreign URL prefix to a fake instance (or to our group) before signing and
sending them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CorpusFileMissing(FileNotFoundError):
    """The corpus given lacks a payload a conformance test replays."""


@dataclass(frozen=True)
class Corpus:
    """A directory of real payloads, laid out `SOFTWARE/KIND/NAME.json`
    (e.g. `lemmy/activities/create_or_update/create_page.json`)."""

    root: Path

    def path(self, relative: str) -> Path:
        path = self.root / relative
        if not path.is_file():
            raise CorpusFileMissing(f"the conformance corpus {self.root} has no {relative}")
        return path

    def load(self, relative: str) -> dict[str, Any]:
        """The payload at `relative`, parsed."""
        return json.loads(self.path(relative).read_text(encoding="utf-8"))


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
