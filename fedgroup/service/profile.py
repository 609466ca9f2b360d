"""The Group actor as other servers see it, and telling members' servers when it changes.

One function builds the document, for `GET /groups/NAME` and for the `Update{Group}` that
carries an edit or a new key to every member's server, so what is served and what is sent
can never differ.
"""

from __future__ import annotations

from typing import Any

from ..activitypub import builders
from ..activitypub.actors import GroupProfile, group_actor_document, group_urls
from ..activitypub.sanitize import plain_text_to_html
from ..activitypub.vocab import PUBLIC
from ..config import Settings
from ..storage.models import (
    Activity,
    Group,
    Membership,
    MembershipMode,
    MembershipState,
    Visibility,
)
from .ids import new_activity_id
from .outbound import queue_activity


def _timestamp(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


def group_profile(group: Group) -> GroupProfile:
    return GroupProfile(
        name=group.name,
        display_name=group.display_name,
        summary_html=plain_text_to_html(group.summary),
        public_key_pem=group.public_key_pem,
        manually_approves_followers=group.membership_mode == MembershipMode.APPROVAL,
        discoverable=group.discoverable and group.visibility == Visibility.PUBLIC,
        posting_restricted_to_mods=group.posting_restricted_to_mods,
        icon_media_type=group.icon_media_type if group.icon else None,
        image_media_type=group.image_media_type if group.image else None,
        published=_timestamp(group.created_at),
        updated=_timestamp(group.updated_at),
        moved_to=group.moved_to,
        also_known_as=tuple(group.also_known_as or ()),
    )


def actor_document(settings: Settings, group: Group) -> dict[str, Any]:
    """The Group actor document Lemmy, Mastodon and FEP-1b12 software read."""
    urls = group_urls(settings.base_url, group.name)
    return group_actor_document(urls, group_profile(group), urls.actor)


def lifecycle_addressing(settings: Settings, group: Group) -> tuple[list[str], list[str]]:
    """`to` and `cc` of what the group says about itself (Update, Delete, Move).

    Public only for a public group anyone may join. Lemmy treats a community whose actor
    says `manuallyApprovesFollowers` as private and refuses its activities if they name
    Public; a members-only group never addresses Public at all. (Lemmy then wants Public for
    an open members-only group, which it sees as unlisted, and refuses the activity: it
    picks the change up when it next refetches the group, within a day.)
    """
    followers = group_urls(settings.base_url, group.name).followers
    if group.visibility == Visibility.PUBLIC and group.membership_mode == MembershipMode.OPEN:
        return [PUBLIC], [followers]
    return [followers], []


async def member_servers(group: Group) -> list[str]:
    """One inbox per server that knows the group as a member or an applicant (its shared
    inbox when it has one): the servers that hold a copy of the actor. Members imported with
    a group that moved here are not among them until their server follows it here."""
    inboxes: dict[str, None] = {}
    rows = (
        await Membership.filter(group=group)
        .exclude(state=MembershipState.MOVED)
        .order_by("id")
        .prefetch_related("actor")
    )
    for membership in rows:
        inboxes[membership.actor.shared_inbox or membership.actor.inbox] = None
    return list(inboxes)


async def send_profile_update(settings: Settings, group: Group) -> Activity:
    """Queue `Update{Group}` with the current document (and key) to every member's server."""
    to, cc = lifecycle_addressing(settings, group)
    document = actor_document(settings, group)
    update = builders.update_actor(new_activity_id(settings), document, to, cc)
    return await queue_activity(update, group=group, inboxes=await member_servers(group))
