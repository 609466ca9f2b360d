"""Sending activities: queue them durably, and let admins see and nudge the queue.

`queue_activity` is the only way anything leaves this server: the activity and one delivery
row per inbox are written in one transaction, so once it returns the activity will reach
every inbox (or be given up on, visibly) whatever crashes afterwards. The worker that sends
them is the pipeline's last stage (`pipeline.delivery`); this module rings its notifier.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from tortoise.functions import Count, Min
from tortoise.transactions import in_transaction

from ..activitypub import ldworker
from ..activitypub.hosts import authority_or_none
from ..storage.models import Activity, Delivery, DeliveryState, Group, Instance
from .instances import make_host_due

log = logging.getLogger(__name__)


class DeliveryNotifier:
    """Wakes the workers of this process when deliveries are queued.

    Each worker subscribes its own event (events belong to one event loop); other processes
    (the admin CLI) cannot reach it, which is why workers also poll.
    """

    def __init__(self) -> None:
        self._events: set[asyncio.Event] = set()

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        self._events.add(event)
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        self._events.discard(event)

    def notify(self) -> None:
        for event in list(self._events):
            event.set()


delivery_notifier = DeliveryNotifier()
"""The process's notifier: `queue_activity` rings it, the delivery workers listen."""

# Activities a receiving server may forward to others (replies, boosts, edits, deletes):
# these carry an LD signature; Accept/Reject/Block go to one server and are not forwarded.
FORWARDABLE = frozenset({"Announce", "Create", "Update", "Delete", "Undo"})
PENDING_STATES = (DeliveryState.QUEUED, DeliveryState.RETRYING)


def _id_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value["id"]
    return None


async def queue_activity(
    payload: dict[str, Any],
    *,
    group: Group | None,
    inboxes: Iterable[str],
    public: bool = False,
    notifier: DeliveryNotifier = delivery_notifier,
    stored_as: str | None = None,
) -> Activity:
    """Store an outbound activity and one delivery per distinct inbox, atomically, and wake
    the worker. Every attempt to an inbox sends this same payload (same `id`), so receivers
    can dedupe.

    Queuing an `id` already stored as outbound adds deliveries only for inboxes it does not
    have yet (the stored payload is kept), so callers may safely repeat themselves.

    `stored_as` is for forwarding someone else's activity unchanged (its `id` is theirs, and
    we hold it as inbound): the row gets this id of ours instead, and is never served.
    """
    ap_id = stored_as or payload.get("id")
    if not isinstance(ap_id, str) or not ap_id:
        raise ValueError("an outbound activity needs a string id")
    activity_type = payload.get("type")
    if not isinstance(activity_type, str):
        raise ValueError("an outbound activity needs a single string type")
    actor = _id_of(payload.get("actor"))
    if actor is None:
        raise ValueError("an outbound activity needs an actor")
    targets = list(dict.fromkeys(inboxes))
    if group is not None:
        payload = await ld_signed(payload, group)
    now = datetime.now(UTC)
    async with in_transaction() as connection:
        activity = await Activity.get_or_none(ap_id=ap_id).using_db(connection)
        if activity is None:
            activity = await Activity.create(
                ap_id=ap_id,
                type=activity_type,
                actor=actor,
                object_id=_id_of(payload.get("object")),
                inbound=False,
                group=group,
                payload=payload,
                public=public,
                using_db=connection,
            )
            existing: set[str] = set()
        elif activity.inbound:
            raise ValueError(f"{ap_id} is an activity we received, not one we send")
        else:
            existing = set(
                await Delivery.filter(activity_id=activity.id)
                .using_db(connection)
                .values_list("inbox", flat=True)
            )
        new = [
            Delivery(
                activity_id=activity.id,
                inbox=inbox,
                host=authority_or_none(inbox) or "",
                state=DeliveryState.QUEUED,
                next_attempt_at=now,
            )
            for inbox in targets
            if inbox not in existing
        ]
        if new:
            await Delivery.bulk_create(new, using_db=connection)
    if new:
        notifier.notify()
    return activity


async def ld_signed(payload: dict[str, Any], group: Group) -> dict[str, Any]:
    """The group's forwardable activity with an LD signature, so receivers can forward it
    (Mastodon forwards a reply to a post's audience only when an embedded signature vouches
    for it); others, and one signed already, as they are. Signed once, not per delivery,
    and in a JSON-LD worker process within its time budget (activitypub.ldworker):
    canonicalization never runs on the event loop."""
    actor = _id_of(payload.get("actor")) or ""
    if (
        payload.get("type") not in FORWARDABLE
        or "signature" in payload
        or not actor.endswith(f"/groups/{group.name}")
    ):
        return payload
    try:
        return await ldworker.sign(
            payload,
            private_key_pem=group.private_key_pem,
            key_id=actor + "#main-key",
            limits=ldworker.configured_limits(),
        )
    except ldworker.LdRefused as exc:
        # An embedded member activity naming a context we do not bundle, or too big or slow
        # to canonicalize: send it without (never fetch a context); the HTTP signature still
        # vouches for it to the receiver.
        log.info("no LD signature on %s: %s", payload.get("id"), exc.reason)
        return payload


async def deliveries_status() -> dict[str, Any]:
    """Counts per state, unreachable instances and the per-host backlog, for admins."""
    counts = {state.value: 0 for state in DeliveryState}
    rows = await Delivery.all().annotate(n=Count("id")).group_by("state").values_list("state", "n")
    for state, n in rows:
        counts[str(state)] = n
    unreachable = [
        {
            "host": host,
            "unreachable_since": since.isoformat(),
            "failing_since": first.isoformat() if first else None,
        }
        for host, since, first in await Instance.filter(unreachable_since__isnull=False)
        .order_by("host")
        .values_list("host", "unreachable_since", "first_failure_at")
    ]
    backlog = [
        {"host": host, "pending": n, "next_attempt_at": due.isoformat() if due else None}
        for host, n, due in await Delivery.filter(state__in=PENDING_STATES)
        .annotate(n=Count("id"), due=Min("next_attempt_at"))
        .group_by("host")
        .order_by("-n", "host")
        .values_list("host", "n", "due")
    ]
    return {"counts": counts, "unreachable": unreachable, "backlog": backlog}


async def retry_host(host: str, *, notifier: DeliveryNotifier = delivery_notifier) -> int:
    """An admin says `host` is back: clear its unreachable mark and make every delivery we
    still owe it due now, including those already given up on (whose give-up clock starts
    again). Returns how many deliveries to `host` are now due."""
    host = authority_or_none(host) or host
    now = datetime.now(UTC)
    await Instance.filter(host=host).update(first_failure_at=None, unreachable_since=None)
    await Delivery.filter(host=host, state=DeliveryState.FAILED).update(
        state=DeliveryState.RETRYING, next_attempt_at=now, created_at=now, claimed_until=None
    )
    await make_host_due(host, now=now)
    notifier.notify()
    return await Delivery.filter(host=host, state__in=PENDING_STATES).count()


STUCK_STATES = (DeliveryState.QUEUED, DeliveryState.RETRYING, DeliveryState.FAILED)


async def list_deliveries(
    *,
    group: Group | None = None,
    states: Iterable[DeliveryState] = STUCK_STATES,
    host: str | None = None,
    limit: int = 100,
) -> tuple[list[Delivery], int]:
    """Deliveries matching the filters, the next due first, and how many match in all.

    By default what still waits or was given up on: what an admin looks at when something
    seems stuck."""
    query = Delivery.filter(state__in=list(states))
    if group is not None:
        query = query.filter(activity__group_id=group.id)
    if host is not None:
        query = query.filter(host=host)
    total = await query.count()
    rows = (
        await query.order_by("next_attempt_at", "id")
        .limit(limit)
        .prefetch_related("activity__group")
    )
    return rows, total
