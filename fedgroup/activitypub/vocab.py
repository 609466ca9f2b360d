"""ActivityStreams vocabulary constants and small pure helpers about addressing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
# Fedify compacts the public collection; Mastodon treats all three spellings as public.
PUBLIC_ALIASES = frozenset({PUBLIC, "as:Public", "Public"})

ACTIVITY_JSON = "application/activity+json"
LD_JSON_PROFILE = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'

# Extension terms our actors use, mapped the way Lemmy and Mastodon declare them.
GROUP_CONTEXT_EXTENSIONS: dict[str, Any] = {
    "lemmy": "https://join-lemmy.org/ns#",
    "toot": "http://joinmastodon.org/ns#",
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "sensitive": "as:sensitive",
    "discoverable": "toot:discoverable",
    "featured": {"@id": "toot:featured", "@type": "@id"},
    "postingRestrictedToMods": "lemmy:postingRestrictedToMods",
    "moderators": {"@id": "lemmy:moderators", "@type": "@id"},
    # Moves (FEP-7628), spelled as Mastodon declares them: receivers read these two.
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
    "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
}
ACTOR_CONTEXT: list[Any] = [AS_CONTEXT, SECURITY_CONTEXT, GROUP_CONTEXT_EXTENSIONS]


def as_list(value: Any) -> list[Any]:
    """AS properties may hold one value or an array; treat both the same."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def id_of(value: Any) -> str | None:
    """The id of a value that may be an embedded object or a bare IRI."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        ident = value.get("id")
        return ident if isinstance(ident, str) else None
    return None


def ids_of(values: Iterable[Any]) -> list[str]:
    """Ids of a list of embedded-or-IRI values, skipping what has none."""
    return [i for i in (id_of(v) for v in values) if i]


def is_public(addresses: Iterable[Any]) -> bool:
    """Whether any addressee is the public collection, in any of its spellings."""
    return any(a in PUBLIC_ALIASES for a in ids_of(addresses))
