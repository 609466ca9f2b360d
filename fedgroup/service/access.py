"""Who may read a group's content: anyone for public groups, members' servers otherwise.

A members-only group's posts are served only to GETs signed by an actor on a server where
the group has an accepted member, because that server will show them only to followers.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..activitypub.hosts import authority_or_none
from ..activitypub.httpsig import SignatureError
from ..activitypub.signed_fetch import Fetcher
from ..config import Settings
from ..storage.models import Group, Membership, MembershipState, Visibility
from .signatures import UnverifiedSignature, read_signature, verified_signer


async def may_read(
    settings: Settings,
    fetcher: Fetcher,
    group: Group,
    *,
    url: str,
    headers: Mapping[str, str],
    public_content: bool = True,
) -> bool:
    """Whether a GET may see this group's content.

    `public_content` is False for what was never public even in a public group (a
    followers-only post a member shared with the group): members' servers only, as well.
    """
    if group.visibility == Visibility.PUBLIC and public_content:
        return True
    try:
        claim = read_signature(settings, method="GET", url=url, headers=headers, body=None)
        signer = await verified_signer(fetcher, claim)
    except (SignatureError, UnverifiedSignature):
        return False
    return await Membership.exists(
        group=group, state=MembershipState.ACCEPTED, actor__host=authority_or_none(signer) or ""
    )
