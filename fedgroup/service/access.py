"""Who may read what the server publishes: objects (activities, the group's own notes) and
collections (outbox, followers, featured, moderators).

Public content of a public group is readable by anyone, unless the operator turns on
`authorized_fetch`: then every such GET must be signed by an actor on a server that is not
suspended (by a domain policy, a server-wide domain ban, or allow-list mode; in a group,
also by the group's own policy), as Mastodon's secure mode does. A
members-only group is always in that mode, and more: only servers where it has an accepted
member may read it, because they show its content to followers only. Content that was never
public (a followers-only post a member shared with a public group) is read the same way.

Actors, their keys, WebFinger and NodeInfo are not decided here: they stay public, or nobody
could verify our signatures nor find our groups.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..activitypub.hosts import authority_or_none
from ..activitypub.httpsig import SignatureError
from ..activitypub.signed_fetch import Fetcher
from ..config import Settings
from ..storage.models import Group, Membership, MembershipState, Visibility
from .policies import host_is_suspended
from .signatures import UnverifiedSignature, read_signature, verified_signer


class ReadRefused(Exception):
    """A GET may not see this; `status` is the answer (401 sign first, 403 not you)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def check_read(
    settings: Settings,
    fetcher: Fetcher,
    group: Group | None,
    *,
    url: str,
    headers: Mapping[str, str],
    public_content: bool = True,
) -> None:
    """Return if this GET may see content of `group` (None: server-level), else raise
    ReadRefused.

    `public_content` is False for what was never public even in a public group: members'
    servers only, as in a members-only group.
    """
    members_only = group is not None and (
        group.visibility == Visibility.MEMBERS_ONLY or not public_content
    )
    if not (members_only or settings.authorized_fetch):
        return
    try:
        claim = read_signature(settings, method="GET", url=url, headers=headers, body=None)
    except SignatureError as exc:
        raise ReadRefused(401, f"sign the request ({exc.reason})") from None
    group_id = group.id if group is not None else None
    # A suspended server costs us no key fetch: judged by the key's host first.
    if await host_is_suspended(settings, claim.key_id, group_id=group_id):
        raise ReadRefused(403, "this server is suspended here")
    try:
        signer = await verified_signer(fetcher, claim)
    except UnverifiedSignature as exc:
        raise ReadRefused(401, exc.reason) from None
    if await host_is_suspended(settings, signer, group_id=group_id):
        raise ReadRefused(403, "this server is suspended here")
    if members_only and not await Membership.exists(
        group=group, state=MembershipState.ACCEPTED, actor__host=authority_or_none(signer) or ""
    ):
        raise ReadRefused(403, "members only: no member of this group is on your server")
