"""Documents for our own actors: pure builders from plain values.

A Group must satisfy both Lemmy's parser (which wants `attributedTo` to be the moderators
collection, `postingRestrictedToMods`, `featured`, `endpoints.sharedInbox`) and Mastodon's
(`preferredUsername`, `inbox`, `outbox`, `publicKey`), so one document carries both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .vocab import ACTOR_CONTEXT


@dataclass(frozen=True)
class GroupUrls:
    """Where a group's actor and collections live; derived from the base URL and name."""

    actor: str
    shared_inbox: str

    @property
    def inbox(self) -> str:
        return self.actor + "/inbox"

    @property
    def outbox(self) -> str:
        return self.actor + "/outbox"

    @property
    def followers(self) -> str:
        return self.actor + "/followers"

    @property
    def featured(self) -> str:
        return self.actor + "/featured"

    @property
    def moderators(self) -> str:
        return self.actor + "/moderators"

    @property
    def events(self) -> str:
        return self.actor + "/events"

    def thread(self, thread_id: int) -> str:
        """A thread's collection (FEP-7888 `context`), by the local id of its first post."""
        return f"{self.actor}/threads/{thread_id}"

    def replies(self, post_id: int) -> str:
        """The answers to one post, by its local id."""
        return f"{self.actor}/posts/{post_id}/replies"

    @property
    def key_id(self) -> str:
        return self.actor + "#main-key"

    @property
    def icon(self) -> str:
        return self.actor + "/icon"

    @property
    def image(self) -> str:
        return self.actor + "/image"


def group_urls(base_url: str, name: str) -> GroupUrls:
    base = base_url.rstrip("/")
    return GroupUrls(actor=f"{base}/groups/{name}", shared_inbox=f"{base}/inbox")


def instance_actor_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/actor"


@dataclass(frozen=True)
class GroupProfile:
    """What the actor document says about a group, as plain values."""

    name: str
    display_name: str
    summary_html: str
    public_key_pem: str
    manually_approves_followers: bool
    discoverable: bool
    posting_restricted_to_mods: bool
    icon_media_type: str | None = None
    image_media_type: str | None = None
    published: str | None = None
    updated: str | None = None
    moved_to: str | None = None
    also_known_as: tuple[str, ...] = ()


def group_actor_document(urls: GroupUrls, profile: GroupProfile, html_url: str) -> dict[str, Any]:
    """The Group actor as Lemmy, Mastodon and FEP-1b12 software expect it."""
    doc: dict[str, Any] = {
        "@context": ACTOR_CONTEXT,
        "id": urls.actor,
        "type": "Group",
        "preferredUsername": profile.name,
        "name": profile.display_name or profile.name,
        "summary": profile.summary_html,
        "url": html_url,
        "inbox": urls.inbox,
        "outbox": urls.outbox,
        "followers": urls.followers,
        "featured": urls.featured,
        "attributedTo": urls.moderators,
        "moderators": urls.moderators,
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "publicKey": {
            "id": urls.key_id,
            "owner": urls.actor,
            "publicKeyPem": profile.public_key_pem,
        },
        "manuallyApprovesFollowers": profile.manually_approves_followers,
        "discoverable": profile.discoverable,
        "postingRestrictedToMods": profile.posting_restricted_to_mods,
        "sensitive": False,
    }
    if profile.icon_media_type:
        doc["icon"] = {"type": "Image", "mediaType": profile.icon_media_type, "url": urls.icon}
    if profile.image_media_type:
        doc["image"] = {"type": "Image", "mediaType": profile.image_media_type, "url": urls.image}
    if profile.published:
        doc["published"] = profile.published
    if profile.updated:
        doc["updated"] = profile.updated
    if profile.also_known_as:
        doc["alsoKnownAs"] = list(profile.also_known_as)
    if profile.moved_to:
        doc["movedTo"] = profile.moved_to
    return doc


def retiring_group_document(urls: GroupUrls, name: str, public_key_pem: str) -> dict[str, Any]:
    """A deleted group's actor while its `Delete` is still on its way: only what a receiver
    needs to verify that Delete (the key), nothing of what the group was."""
    return {
        "@context": ACTOR_CONTEXT,
        "id": urls.actor,
        "type": "Group",
        "preferredUsername": name,
        "inbox": urls.inbox,
        "outbox": urls.outbox,
        "followers": urls.followers,
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "publicKey": {"id": urls.key_id, "owner": urls.actor, "publicKeyPem": public_key_pem},
    }


def tombstone_document(actor_url: str, deleted: str) -> dict[str, Any]:
    """What a deleted group's address answers (with 410 Gone) once its Delete has gone out."""
    return {
        "@context": ACTOR_CONTEXT[0],
        "id": actor_url,
        "type": "Tombstone",
        "formerType": "Group",
        "deleted": deleted,
    }


def instance_actor_document(base_url: str, domain: str, public_key_pem: str) -> dict[str, Any]:
    """The server's own Application actor: it signs our fetches (authorized-fetch peers)."""
    actor = instance_actor_url(base_url)
    base = base_url.rstrip("/")
    return {
        "@context": ACTOR_CONTEXT,
        "id": actor,
        "type": "Application",
        "preferredUsername": domain.split(":")[0],
        "name": "fedgroup",
        "inbox": base + "/actor/inbox",
        "outbox": base + "/actor/outbox",
        "endpoints": {"sharedInbox": base + "/inbox"},
        "manuallyApprovesFollowers": True,
        "discoverable": False,
        "publicKey": {"id": actor + "#main-key", "owner": actor, "publicKeyPem": public_key_pem},
    }


def ordered_collection(
    collection_id: str,
    total: int,
    *,
    first: str | None = None,
    items: list[Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An OrderedCollection head: items inline when given, a link to the first page when
    given (both: the first page inline, for readers that do not page, as Lemmy's outbox
    reader); `extra` adds properties (`attributedTo` of a thread, `partOf`…)."""
    doc: dict[str, Any] = {
        "@context": ACTOR_CONTEXT[0],
        "id": collection_id,
        "type": "OrderedCollection",
        "totalItems": total,
        **extra,
    }
    if items is not None:
        doc["orderedItems"] = items
    if first is not None:
        doc["first"] = first
    return doc


def ordered_collection_page(
    collection_id: str,
    page: int,
    items: list[Any],
    *,
    total: int,
    has_next: bool,
) -> dict[str, Any]:
    """One page of an OrderedCollection with next/prev links (unlike Lemmy's capped 50)."""
    doc: dict[str, Any] = {
        "@context": ACTOR_CONTEXT[0],
        "id": f"{collection_id}?page={page}",
        "type": "OrderedCollectionPage",
        "partOf": collection_id,
        "totalItems": total,
        "orderedItems": items,
    }
    if has_next:
        doc["next"] = f"{collection_id}?page={page + 1}"
    if page > 1:
        doc["prev"] = f"{collection_id}?page={page - 1}"
    return doc
