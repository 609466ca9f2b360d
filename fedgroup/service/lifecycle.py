"""A group's life as members' servers see it: a new key, and its end.

Deleting a group is a federated act. Its rows go at once (members, posts, history and
whatever was still queued for it), a `Delete` of the actor is queued to every server that
knows the group, and a tombstone keeps the name reserved and the key pair alive until that
Delete has been delivered or given up on everywhere. Only then is the key wiped and the
address answers a plain 410 Gone.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from ..activitypub import builders
from ..activitypub.actors import group_urls
from ..activitypub.keys import generate_rsa_key_pair
from ..config import Settings
from ..storage.models import Activity, Delivery, DeliveryState, GroupTombstone
from .groups import get_group
from .ids import new_activity_id
from .outbound import delivery_notifier, queue_activity
from .profile import lifecycle_addressing, member_servers, send_profile_update

log = logging.getLogger(__name__)

PENDING_STATES = (DeliveryState.QUEUED, DeliveryState.RETRYING)


async def rotate_key(settings: Settings, name: str) -> Activity:
    """Give the group a new key pair and send `Update{Group}` carrying it.

    Everything signed from now on, including deliveries queued before, uses the new key;
    receivers that cached the old one refetch the actor when a signature fails to verify
    (Mastodon does at once; Lemmy once its copy is a day old).
    """
    group = await get_group(name)
    private_pem, public_pem = await asyncio.to_thread(generate_rsa_key_pair)
    group.private_key_pem, group.public_key_pem = private_pem, public_pem
    await group.save(update_fields=["private_key_pem", "public_key_pem", "updated_at"])
    log.info("group %s has a new key pair", group.name)
    return await send_profile_update(settings, group)


async def delete_group(settings: Settings, name: str) -> GroupTombstone:
    """Delete the group, tell every member's server, and leave a tombstone (see module doc)."""
    group = await get_group(name)
    actor_url = group_urls(settings.base_url, group.name).actor
    inboxes = await member_servers(group)
    to, cc = lifecycle_addressing(settings, group)
    delete = builders.delete_actor(new_activity_id(settings), actor_url, to, cc)
    async with in_transaction():
        tombstone = await GroupTombstone.create(
            name=group.name,
            display_name=group.display_name,
            delete_activity=delete["id"],
            members_told=len(inboxes),
            private_key_pem=group.private_key_pem,
            public_key_pem=group.public_key_pem,
        )
        # Cascades: memberships, bans, posts, the group's activities and their deliveries.
        await group.delete()
        # Not the group's activity (that row is gone): signed with the tombstone's key.
        await queue_activity(delete, group=None, inboxes=inboxes)
    delivery_notifier.notify()  # the rings inside the transaction came before its commit
    log.info("group %s deleted; telling %d member servers", name, len(inboxes))
    await finish_deletion(tombstone.name)
    await tombstone.refresh_from_db()
    return tombstone


async def finish_deletion(name: str) -> bool:
    """Wipe a deleted group's keys once its Delete is settled everywhere; True if it was."""
    tombstone = await GroupTombstone.get_or_none(name=name, settled_at__isnull=True)
    if tombstone is None:
        return False
    if tombstone.delete_activity and await Delivery.exists(
        activity__ap_id=tombstone.delete_activity, state__in=PENDING_STATES
    ):
        return False
    settled = await GroupTombstone.filter(id=tombstone.id, settled_at__isnull=True).update(
        settled_at=datetime.now(UTC), private_key_pem=None, public_key_pem=None
    )
    if settled:
        log.info("group %s: Delete settled everywhere, key wiped", name)
    return bool(settled)


async def finish_settled_deletions() -> int:
    """The sweep for deletions whose last delivery was given up on in bulk; returns how many
    were finished."""
    names = await GroupTombstone.filter(settled_at__isnull=True).values_list("name", flat=True)
    return sum([await finish_deletion(name) for name in names])


async def delivery_settled(settings: Settings, activity: Activity) -> None:
    """Called by the delivery worker when a delivery reached its final state: the last one of
    a group's Delete finishes the deletion."""
    if activity.type != "Delete" or activity.group_id is not None:  # type: ignore[attr-defined]
        return
    if activity.object_id != activity.actor:
        return
    prefix = settings.url("/groups/")
    if activity.actor.startswith(prefix):
        await finish_deletion(activity.actor[len(prefix) :])


async def retired_signing_key(settings: Settings, actor_url: str) -> tuple[str, str] | None:
    """(key id, private key PEM) of a deleted group whose Delete is still going out."""
    prefix = settings.url("/groups/")
    if not actor_url.startswith(prefix):
        return None
    name = actor_url[len(prefix) :]
    tombstone = await GroupTombstone.get_or_none(name=name, private_key_pem__isnull=False)
    if tombstone is None or not tombstone.private_key_pem:
        return None
    return group_urls(settings.base_url, name).key_id, tombstone.private_key_pem
