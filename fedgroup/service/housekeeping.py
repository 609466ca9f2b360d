"""Pruning: what the server no longer needs goes, so a small machine's disk stays bounded.

Every activity in and out, every delivery row and every remote actor we ever fetched is kept
by the pipeline; without pruning the database only grows. What a group's history needs is
never removed:

- posts themselves (`objects`): threads, pages, the outbox, pins are made of them;
- the group's `Announce` each listed post points to (`announce_id`: what the outbox serves,
  also fetchable at its id), and the group's boost of a post still up (withdrawn with an
  `Undo` if the post is deleted later);
- inbound activities still waiting in the queue, and outbound ones with deliveries still
  to make (a deleted group's `Delete` among them: its tombstone settles on their outcome);
- remote actors who are members or moderators (or referenced by any other row), or
  authors of posts kept.

Ages are settings (`prune_*_after`, seconds; 0 keeps those rows for ever). Rows go in small
batches, so the server's writers never wait long for the database.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from ..config import Settings
from ..storage.models import (
    Activity,
    ActivityState,
    Delivery,
    DeliveryState,
    Moderator,
    RemoteActor,
    RemoteKey,
    StoredObject,
)

log = logging.getLogger(__name__)

BATCH = 500
PENDING_DELIVERIES = (DeliveryState.QUEUED, DeliveryState.RETRYING)
SENT_DELIVERIES = (DeliveryState.DELIVERED, DeliveryState.DROPPED)


@dataclass
class Pruned:
    """How many rows one pass removed, by kind."""

    inbound_activities: int = 0
    outbound_activities: int = 0
    deliveries: int = 0
    remote_actors: int = 0
    remote_keys: int = 0

    @property
    def total(self) -> int:
        return sum(asdict(self).values())

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _cutoff(now: datetime, age: int) -> datetime | None:
    return None if age <= 0 else now - timedelta(seconds=age)


async def _delete_in_batches(query: QuerySet[Any]) -> int:
    """Delete what `query` matches, BATCH rows per statement; returns how many went."""
    removed = 0
    while True:
        ids = await query.limit(BATCH).values_list("id", flat=True)
        if not ids:
            return removed
        model = query.model
        removed += await model.filter(id__in=list(ids)).delete()
        if len(ids) < BATCH:
            return removed
        await asyncio.sleep(0)  # let the server's own queries in between batches


def _referenced_actor_ids() -> list[QuerySet[Any]]:
    """Queries for the ids of remote actors that any row points at (memberships, and
    whatever later models reference an actor: deleting one would cascade to that row)."""
    queries = []
    for name in RemoteActor._meta.backward_fk_fields:
        relation = RemoteActor._meta.fields_map[name]
        queries.append(relation.related_model.all().values(relation.relation_field))
    return queries


async def prune(settings: Settings, *, now: datetime | None = None) -> Pruned:
    """One pass over every kind of prunable row (see the module's doc)."""
    now = now or datetime.now(UTC)
    pruned = Pruned()
    if (cutoff := _cutoff(now, settings.prune_deliveries_after)) is not None:
        pruned.deliveries += await _delete_in_batches(
            Delivery.filter(state__in=SENT_DELIVERIES, created_at__lt=cutoff)
        )
    if (cutoff := _cutoff(now, settings.prune_outbound_after)) is not None:
        # Given up on long ago: nobody retries those any more.
        pruned.deliveries += await _delete_in_batches(
            Delivery.filter(state=DeliveryState.FAILED, created_at__lt=cutoff)
        )
        listed = StoredObject.filter(announce_id__isnull=False).values("announce_id")
        boosted = StoredObject.filter(deleted=False).values("ap_id")
        owed = Delivery.filter(state__in=PENDING_DELIVERIES).values("activity_id")
        pruned.outbound_activities += await _delete_in_batches(
            Activity.filter(inbound=False, created_at__lt=cutoff)
            .exclude(ap_id__in=Subquery(listed))
            # (NOT IN is never true of NULL: an activity without an object is said apart.)
            .filter(Q(object_id__isnull=True) | ~Q(object_id__in=Subquery(boosted)))
            .exclude(id__in=Subquery(owed))
        )
    if (cutoff := _cutoff(now, settings.prune_inbound_after)) is not None:
        pruned.inbound_activities += await _delete_in_batches(
            Activity.filter(inbound=True, created_at__lt=cutoff).exclude(
                state=ActivityState.RECEIVED
            )
        )
    if (cutoff := _cutoff(now, settings.prune_remote_after)) is not None:
        pruned.remote_keys += await _delete_in_batches(RemoteKey.filter(fetched_at__lt=cutoff))
        actors = (
            RemoteActor.filter(fetched_at__lt=cutoff)
            .exclude(url__in=Subquery(StoredObject.filter(deleted=False).values("attributed_to")))
            .exclude(url__in=Subquery(Moderator.all().values("actor_url")))
        )
        for referenced in _referenced_actor_ids():
            actors = actors.exclude(id__in=Subquery(referenced))
        pruned.remote_actors += await _delete_in_batches(actors)
    if pruned.total:
        log.info("pruned %s", ", ".join(f"{n} {k}" for k, n in pruned.as_dict().items() if n))
    return pruned


async def run_housekeeping(settings: Settings) -> None:
    """The background task the app starts: a pruning pass every `prune_interval` seconds.
    A failing pass is logged and tried again next time; it never stops the server."""
    while True:
        await asyncio.sleep(settings.prune_interval)
        try:
            await prune(settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pruning failed; trying again in %ss", settings.prune_interval)
