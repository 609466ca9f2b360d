"""Taking back the claims a killed process left behind.

On SQLite one process is the only claimer (the worker process of `fedgroup serve`, or the
server itself with `workers = "inline"`), and only that process calls this, when it starts:
every lease found then belongs to a predecessor that died (SIGKILL, power cut), released at
once, so its work is redone now instead of when the lease runs out. The web process never
calls it: the leases are its living worker's. On PostgreSQL several processes share the queues and a
lease may be a living neighbour's, so there leases simply expire.
"""

from __future__ import annotations

import logging

from ..storage.models import Activity, Delivery

log = logging.getLogger(__name__)


async def release_claims_of_dead_predecessor(database_url: str) -> int:
    if not database_url.startswith("sqlite"):
        return 0
    deliveries = await Delivery.filter(claimed_until__isnull=False).update(claimed_until=None)
    inbound = await Activity.filter(claimed_until__isnull=False).update(claimed_until=None)
    if deliveries or inbound:
        log.info(
            "released %d delivery and %d inbound claims left by the previous run",
            deliveries,
            inbound,
        )
    return deliveries + inbound
