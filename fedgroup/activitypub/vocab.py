"""ActivityStreams vocabulary constants and small pure helpers about addressing."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import urlsplit

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


def types_of(doc: Any) -> list[str]:
    """The types of a document: `type` is a set in JSON-LD (`"Note"` or `["Note", "Article"]`)."""
    if not isinstance(doc, dict):
        return []
    return [t for t in as_list(doc.get("type")) if isinstance(t, str)]


def type_in(doc: Any, known: Collection[str]) -> str | None:
    """The first of the document's types that is in `known`: the one we act on, or None."""
    return next((t for t in types_of(doc) if t in known), None)


def has_type(doc: Any, name: str) -> bool:
    """Whether `name` is among the document's types."""
    return name in types_of(doc)


MAX_URL_LENGTH = 2048


def http_url(value: Any) -> str | None:
    """`value` if it is an absolute http(s) URL we may store, fetch or link to, else None.

    Anything else (`javascript:`, `data:`, relative, with spaces or control characters, or
    longer than we store) is None: the one test for URLs taken from remote documents.
    """
    if not isinstance(value, str) or not 0 < len(value) <= MAX_URL_LENGTH:
        return None
    if any(ch <= " " or ch == "\x7f" for ch in value):
        return None
    try:
        parts = urlsplit(value)
        hostname, _port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not hostname:
        return None
    return value


def link_url(value: Any) -> str | None:
    """The first http(s) URL a `url`-like property gives, in any of its forms: a string, a
    `Link` (`href`), an object (`id`), or a list of those; None if it gives none."""
    for item in as_list(value)[:16]:
        candidate = item.get("href") or item.get("id") if isinstance(item, dict) else item
        if url := http_url(candidate):
            return url
    return None
