"""Activities the group sends, built from plain values (ids are minted by the caller).

Kept pure so every shape is tested without a server. Shapes follow what receivers check:
Lemmy wants the Follow embedded in Accept/Reject with its actor and object; Mastodon matches
Accept/Reject to its Follow by the embedded id.
"""

from __future__ import annotations

from typing import Any

from .vocab import AS_CONTEXT


def _follow_reference(follow: dict[str, Any]) -> dict[str, Any]:
    """The Follow as the receiver needs to recognise it (no context, nothing extra)."""
    return {
        "id": follow["id"],
        "type": "Follow",
        "actor": follow.get("actor"),
        "object": follow.get("object"),
    }


def accept_follow(activity_id: str, group_url: str, follow: dict[str, Any]) -> dict[str, Any]:
    """`Accept{Follow}`: the member is in."""
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Accept",
        "actor": group_url,
        "to": [follow.get("actor")],
        "object": _follow_reference(follow),
    }


def reject_follow(activity_id: str, group_url: str, follow: dict[str, Any]) -> dict[str, Any]:
    """`Reject{Follow}`: a refused request, or a removed member (Mastodon drops the follow)."""
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Reject",
        "actor": group_url,
        "to": [follow.get("actor")],
        "object": _follow_reference(follow),
    }


def synthetic_follow(follow_id: str, actor_url: str, group_url: str) -> dict[str, Any]:
    """A Follow to reject when the original was not kept (rows from before it was stored)."""
    return {"id": follow_id, "type": "Follow", "actor": actor_url, "object": group_url}
