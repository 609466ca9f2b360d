"""Taking back the claims a killed process left behind.

On SQLite one server process is the only claimer, so every lease found at start-up belongs
to a predecessor that died (SIGKILL, power cut): released at once, its work is redone now
instead of when the lease runs out. On PostgreSQL several processes share the queues and a
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
