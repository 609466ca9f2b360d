"""Activities the group sends, built from plain values (ids are minted by the caller).

Kept pure so every shape is tested without a server. Shapes follow what receivers check:
Lemmy wants the Follow embedded in Accept/Reject with its actor and object; Mastodon matches
Accept/Reject to its Follow by the embedded id.
"""

from __future__ import annotations

import html
from typing import Any

from .vocab import ACTOR_CONTEXT, AS_CONTEXT, PUBLIC, http_url


def _follow_reference(follow: dict[str, Any]) -> dict[str, Any]:
    """The Follow as the receiver needs to recognise it (no context, nothing extra)."""
    return {
        "id": follow["id"],
        "type": "Follow",
        "actor": follow.get("actor"),
        "object": follow.get("object"),
    }


def _answer_follow(
    kind: str, activity_id: str, group_url: str, follow: dict[str, Any]
) -> dict[str, Any]:
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": kind,
        "actor": group_url,
        "to": [follow.get("actor")],
        "object": _follow_reference(follow),
    }


def accept_follow(activity_id: str, group_url: str, follow: dict[str, Any]) -> dict[str, Any]:
    """`Accept{Follow}`: the member is in."""
    return _answer_follow("Accept", activity_id, group_url, follow)


def reject_follow(activity_id: str, group_url: str, follow: dict[str, Any]) -> dict[str, Any]:
    """`Reject{Follow}`: a refused request, or a removed member (Mastodon drops the follow)."""
    return _answer_follow("Reject", activity_id, group_url, follow)


def synthetic_follow(follow_id: str, actor_url: str, group_url: str) -> dict[str, Any]:
    """A Follow to reject when the original was not kept (rows from before it was stored)."""
    return {"id": follow_id, "type": "Follow", "actor": actor_url, "object": group_url}


def announce_wrapped(
    activity_id: str,
    group_url: str,
    followers_url: str,
    inner: dict[str, Any],
    *,
    public: bool,
    context: str | None = None,
) -> dict[str, Any]:
    """FEP-1b12: the group announces the member's activity, embedded unchanged; `context`
    (FEP-7888) names the thread it belongs to."""
    doc = {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Announce",
        "actor": group_url,
        "to": [PUBLIC if public else followers_url],
        "cc": [followers_url],
        "audience": group_url,
        "object": inner,
    }
    if context:
        doc["context"] = context
    return doc


def announce_boost(
    activity_id: str,
    group_url: str,
    followers_url: str,
    object_id: str,
    author_url: str,
    published: str,
    context: str | None = None,
) -> dict[str, Any]:
    """A boost: Mastodon shows an Announce of a fetchable public status as a reblog."""
    doc = {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Announce",
        "actor": group_url,
        "published": published,
        "to": [PUBLIC],
        "cc": [followers_url, author_url],
        "object": object_id,
    }
    if context:
        doc["context"] = context
    return doc


def undo(activity_id: str, actor_url: str, undone: dict[str, Any]) -> dict[str, Any]:
    """Undo of one of our own activities (a boost of a deleted post).

    The undone activity is embedded without its own LD signature: its terms are not in the
    Undo's context, and strict JSON-LD processors (Fedify) then cannot hash the Undo.
    """
    inner = {k: v for k, v in undone.items() if k not in {"@context", "signature", "proof"}}
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Undo",
        "actor": actor_url,
        "to": inner.get("to", []),
        "cc": inner.get("cc", []),
        "object": inner,
    }


def members_only_note(
    note_id: str,
    group_url: str,
    followers_url: str,
    *,
    author_url: str,
    author_handle: str,
    original_url: str,
    content_html: str,
    published: str,
    in_reply_to: str | None = None,
    context: str | None = None,
    replies: str | None = None,
) -> dict[str, Any]:
    """The group's own followers-only Note quoting a member's post, with attribution.

    Mastodon cannot show a boost of a non-public post; a post the group owns, addressed to
    its followers, it does show to them.
    """
    quoted = (
        f"<p>{_link(author_url, author_handle, 'u-url mention')}"
        f" wrote:</p><blockquote>{content_html}</blockquote>"
        f"<p>{_link(original_url, 'Original post')}</p>"
    )
    note: dict[str, Any] = {
        "id": note_id,
        "type": "Note",
        "attributedTo": group_url,
        "to": [followers_url],
        "cc": [],
        "published": published,
        "content": quoted,
        "url": note_id,
        "tag": [{"type": "Mention", "href": author_url, "name": author_handle}]
        if http_url(author_url)
        else [],
    }
    if in_reply_to:
        note["inReplyTo"] = in_reply_to
    if context:
        note["context"] = context
    if replies:
        note["replies"] = replies
    return note


def create(activity_id: str, actor_url: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Create of an object we own, addressed like the object."""
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Create",
        "actor": actor_url,
        "published": obj.get("published"),
        "to": obj.get("to", []),
        "cc": obj.get("cc", []),
        "object": obj,
    }


def delete(activity_id: str, actor_url: str, object_id: str, to: list[str]) -> dict[str, Any]:
    """Delete of an object we own, leaving a Tombstone."""
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Delete",
        "actor": actor_url,
        "to": to,
        "object": {"id": object_id, "type": "Tombstone"},
    }


def update_actor(
    activity_id: str, actor_doc: dict[str, Any], to: list[str], cc: list[str]
) -> dict[str, Any]:
    """`Update` of our own actor with its whole new document: Mastodon replaces the profile
    (and key) it holds from the embedded actor when actor and object are the same; Lemmy
    applies an `Update{Group}` from the group's own domain as a moderator action."""
    actor_url = actor_doc["id"]
    return {
        "@context": ACTOR_CONTEXT,
        "id": activity_id,
        "type": "Update",
        "actor": actor_url,
        "to": to,
        "cc": cc,
        "audience": actor_url,
        "object": {k: v for k, v in actor_doc.items() if k != "@context"},
    }


def delete_actor(activity_id: str, actor_url: str, to: list[str], cc: list[str]) -> dict[str, Any]:
    """`Delete` of our own actor: receivers drop the account (Mastodon) or mark the
    community deleted (Lemmy, which wants the object by id and no `summary`, or it reads a
    moderator's removal)."""
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Delete",
        "actor": actor_url,
        "to": to,
        "cc": cc,
        "object": actor_url,
    }


def move(
    activity_id: str, actor_url: str, target_url: str, to: list[str], cc: list[str]
) -> dict[str, Any]:
    """FEP-7628 `Move` in push mode: the old actor tells its followers to follow `target`,
    which must list the old actor in `alsoKnownAs` (Mastodon checks exactly that)."""
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Move",
        "actor": actor_url,
        "object": actor_url,
        "target": target_url,
        "to": to,
        "cc": cc,
    }


def block(
    activity_id: str,
    group_url: str,
    actor_url: str,
    reason: str | None = None,
    *,
    end_time: str | None = None,
    remove_data: bool = False,
) -> dict[str, Any]:
    """A group ban, as Lemmy sends it: Block of the person with the community as target;
    `endTime` when it expires, `removeData` when their posts were removed with it."""
    doc: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Block",
        "actor": group_url,
        "to": [actor_url],
        "object": actor_url,
        "target": group_url,
    }
    if reason:
        doc["summary"] = reason
    if end_time:
        doc["endTime"] = end_time
    if remove_data:
        doc["removeData"] = True
    return doc


def moderation(
    kind: str,
    activity_id: str,
    actor_url: str,
    group_url: str,
    obj: str,
    *,
    to: list[str],
    target: str | None = None,
    summary: str | None = None,
) -> dict[str, Any]:
    """A moderator's action in a group, shaped as Lemmy sends them (and the group then
    announces): `Add`/`Remove` of a person to the `moderators` collection or of a post to
    `featured` (`target`), `Lock` of a post, `Delete` of someone else's post (a removal,
    `summary` its reason). `cc` and `audience` name the group, as Lemmy checks."""
    doc: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": kind,
        "actor": actor_url,
        "to": to,
        "cc": [group_url],
        "audience": group_url,
        "object": obj,
    }
    if target is not None:
        doc["target"] = target
    if summary:
        doc["summary"] = summary
    return doc


def undo_moderation(
    activity_id: str, actor_url: str, group_url: str, undone: dict[str, Any], summary: str = ""
) -> dict[str, Any]:
    """Undo of a moderation activity (a restore, an unlock), addressed like it."""
    doc = undo(activity_id, actor_url, undone)
    doc["audience"] = group_url
    if summary:
        doc["summary"] = summary
    return doc


def flag(
    activity_id: str, actor_url: str, objects: list[str], reason: str, *, to: list[str]
) -> dict[str, Any]:
    """A report, as Mastodon sends one to another server: the reported account and posts
    in `object`, the reason as `content`, the reporter not named (the group reports)."""
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Flag",
        "actor": actor_url,
        "content": reason,
        "object": objects,
        "to": to,
    }


def resolve(
    activity_id: str, actor_url: str, group_url: str, flag: dict[str, Any]
) -> dict[str, Any]:
    """`Resolve` of a report, as Lemmy sends it: the Flag embedded, the community named."""
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Resolve",
        "actor": actor_url,
        "to": [group_url],
        "audience": group_url,
        "object": flag,
    }


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _link(url: str, text: str, css_class: str | None = None) -> str:
    """`<a href>` to `url` only if it is http(s) (the sanitizer's rule for every link we
    write), else the text alone: a `javascript:` URL never becomes a link of ours."""
    if http_url(url) is None:
        return _text(text)
    classes = f' class="{_attr(css_class)}"' if css_class else ""
    return f'<a href="{_attr(url)}"{classes}>{_text(text)}</a>'


def _text(value: str) -> str:
    return html.escape(value, quote=False)
