"""The figures an operator looks at to know the server is well: one read-only snapshot.

Groups and members, the remote servers we deliver to (answering, failing, given up as
unreachable), both queues with the age of their oldest item, the database's size, and how
many activities came in and went out lately.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import Tortoise
from tortoise.functions import Count

from ..storage.db import sqlite_file
from ..storage.models import (
    Activity,
    ActivityState,
    Delivery,
    DeliveryState,
    Group,
    Instance,
    Membership,
    MembershipState,
    StoredObject,
)

PENDING_DELIVERIES = (DeliveryState.QUEUED, DeliveryState.RETRYING)
#: The window `per_hour_24h` averages over.
DAY = timedelta(hours=24)


def _age(oldest: datetime | None, now: datetime) -> float | None:
    return None if oldest is None else round((now - oldest).total_seconds(), 1)


async def database_size(database_url: str) -> int:
    """Bytes the database takes on disk (SQLite: the file and its WAL)."""
    path = sqlite_file(database_url)
    if path is not None:
        return sum(
            p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists()
        )
    connection = Tortoise.get_connection("default")
    _, rows = await connection.execute_query("SELECT pg_database_size(current_database())")
    return int(next(iter(dict(rows[0]).values())))


async def _queue(query: Any, oldest_field: str, now: datetime) -> dict[str, Any]:
    depth = await query.count()
    first = await query.order_by(oldest_field).first() if depth else None
    oldest = getattr(first, oldest_field) if first is not None else None
    return {
        "depth": depth,
        "oldest": oldest.isoformat() if oldest else None,
        "oldest_age_seconds": _age(oldest, now),
    }


async def _activity_rates(now: datetime) -> dict[str, Any]:
    rates: dict[str, Any] = {}
    for direction, inbound in (("in", True), ("out", False)):
        recent = Activity.filter(inbound=inbound)
        last_hour = await recent.filter(created_at__gte=now - timedelta(hours=1)).count()
        last_day = await recent.filter(created_at__gte=now - DAY).count()
        rates[direction] = {"last_hour": last_hour, "per_hour_24h": round(last_day / 24, 1)}
    rates["deliveries_last_hour"] = await Delivery.filter(
        state=DeliveryState.DELIVERED, delivered_at__gte=now - timedelta(hours=1)
    ).count()
    return rates


async def server_stats(database_url: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Every figure of `fedgroup admin stats`, as plain JSON-ready values."""
    now = now or datetime.now(UTC)
    states = dict(
        await Membership.all().annotate(n=Count("id")).group_by("state").values_list("state", "n")
    )
    instances = Instance.all()
    dead = await instances.filter(unreachable_since__isnull=False).count()
    failing = await instances.filter(
        first_failure_at__isnull=False, unreachable_since__isnull=True
    ).count()
    total_instances = await instances.count()
    deliveries = dict(
        await Delivery.all().annotate(n=Count("id")).group_by("state").values_list("state", "n")
    )
    return {
        "groups": await Group.all().count(),
        "members": {
            "accepted": states.get(MembershipState.ACCEPTED, 0),
            "pending": states.get(MembershipState.PENDING, 0),
            # Imported with a group that moved here, until their server follows it.
            "moved": states.get(MembershipState.MOVED, 0),
            "distinct_accounts": len(
                set(
                    await Membership.filter(state=MembershipState.ACCEPTED).values_list(
                        "actor_id", flat=True
                    )
                )
            ),
        },
        "posts": await StoredObject.filter(deleted=False).count(),
        "instances": {
            "known": total_instances,
            "reachable": total_instances - failing - dead,
            "failing": failing,
            "dead": dead,
        },
        "queues": {
            "inbound": await _queue(
                Activity.filter(inbound=True, state=ActivityState.RECEIVED), "created_at", now
            ),
            "outbound": await _queue(
                Delivery.filter(state__in=PENDING_DELIVERIES), "created_at", now
            ),
            "outbound_failed": deliveries.get(DeliveryState.FAILED, 0),
        },
        "database": {"bytes": await database_size(database_url)},
        "activities": await _activity_rates(now),
        "at": now.isoformat(),
    }
