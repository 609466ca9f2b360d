"""JSON-LD context documents bundled with the package, so nothing is ever fetched.

Each file holds a context exactly as its publisher serves it. Signatures over canonicalized
JSON-LD (RsaSignature2017) only verify if we expand with the very same definitions the signer
used, so these are data, not code: update them only from the published documents.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

#: Canonical context URL -> bundled file name.
BUNDLED_CONTEXTS: dict[str, str] = {
    "https://www.w3.org/ns/activitystreams": "activitystreams.jsonld",
    "https://w3id.org/security/v1": "security-v1.jsonld",
    "https://w3id.org/security/data-integrity/v1": "data-integrity-v1.jsonld",
    "https://w3id.org/security/data-integrity/v2": "data-integrity-v2.jsonld",
    "https://w3id.org/security/multikey/v1": "multikey-v1.jsonld",
    "https://w3id.org/identity/v1": "identity-v1.jsonld",
    "https://litepub.social/litepub/context.jsonld": "litepub.jsonld",
    "https://join-lemmy.org/context.json": "lemmy.jsonld",
    "https://gotosocial.org/ns": "gotosocial.jsonld",
}


@cache
def _load_text(file_name: str) -> str:
    return resources.files(__name__).joinpath(file_name).read_text(encoding="utf-8")


def load_context(url: str) -> dict[str, Any]:
    """Return a fresh copy of the bundled document for a canonical context URL.

    Raises KeyError if the URL is not bundled. A fresh parse each call keeps callers from
    mutating the shared definition.
    """
    return json.loads(_load_text(BUNDLED_CONTEXTS[url]))
