"""The inbound worker: takes stored activities from the queue and runs their handlers.

Rows are claimed with a lease (`claimed_until`, set by a conditional update, which works
the same on SQLite and PostgreSQL): a process that dies mid-handler leaves the row to be
picked up again when the lease runs out, or at once when the server restarts on SQLite
(where this process is the only claimer). Handlers are idempotent, so
at-least-once processing is safe. Rows are handled one at a time in arrival order, so an
Undo never overtakes the Follow it undoes.

A row that keeps failing stops costing anything after a bounded budget: each attempt has
`ATTEMPT_BUDGET` to finish, attempts are counted when a row is claimed (so one that takes
the process down with it counts too, and is not tried forever across restarts), and after
`MAX_ATTEMPTS` the row is dropped as failed with the reason recorded on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from tortoise.expressions import F, Q

from ..activitypub.signed_fetch import Fetcher
from ..config import Settings
from ..storage.models import Activity, ActivityState
from .handlers import HANDLERS, Deferred, Ignored, InboundContext

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 8
ATTEMPT_BUDGET = 60.0  # seconds one handler run may take
BATCH = 50


class _Unfinished(Exception):
    """An attempt that did not finish: over its time budget, or lost with its process."""


def retry_delay(attempts: int) -> timedelta:
    """10 s, 20 s, 40 s … capped at an hour: a peer that was briefly down gets its turn."""
    return timedelta(seconds=min(10 * 2 ** max(attempts - 1, 0), 3600))


def _unclaimed(now: datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


async def _claim(row: Activity, now: datetime) -> bool:
    claimed = await Activity.filter(
        _unclaimed(now), id=row.id, state=ActivityState.RECEIVED
    ).update(claimed_until=now + LEASE, attempts=F("attempts") + 1)
    if claimed == 1:
        row.attempts += 1
    return claimed == 1


async def process_one(settings: Settings, fetcher: Fetcher, row: Activity) -> None:
    """Run the handler for one claimed row and record the outcome on it."""
    handler = HANDLERS.get(row.type)
    now = datetime.now(UTC)
    try:
        if row.attempts > MAX_ATTEMPTS:
            raise _Unfinished(f"{row.attempts - 1} attempts never finished")
        if handler is None:
            raise Ignored(f"no handler for {row.type}")
        group = await row.group if row.group_id else None
        try:
            async with asyncio.timeout(ATTEMPT_BUDGET):
                await handler(InboundContext(settings, fetcher, row.payload, group))
        except TimeoutError:
            raise _Unfinished(f"handler ran over its {ATTEMPT_BUDGET:g} s budget") from None
    except Ignored as skipped:
        log.info("inbound %s %s ignored: %s", row.type, row.ap_id, skipped)
        row.state, row.error = ActivityState.DONE, f"ignored: {skipped}"
    except Deferred as waiting:
        row.attempts -= 1  # waiting is not failing
        _defer(row, waiting, now)
    except Exception as exc:  # a handler failing must not stop the queue; it is retried
        kind = "unfinished" if isinstance(exc, _Unfinished) else type(exc).__name__
        row.error = f"{kind}: {exc}"[:2000]
        if row.attempts >= MAX_ATTEMPTS:
            log.warning("inbound %s %s failed for good: %s", row.type, row.ap_id, row.error)
            row.state = ActivityState.FAILED
        else:
            log.info("inbound %s %s failed, will retry: %s", row.type, row.ap_id, row.error)
            row.process_after = now + retry_delay(row.attempts)
    else:
        row.state, row.error = ActivityState.DONE, None
    row.claimed_until = None
    await row.save(update_fields=["state", "error", "attempts", "process_after", "claimed_until"])


def _defer(row: Activity, waiting: Deferred, now: datetime) -> None:
    """Keep a row that waits for something (attempts unchanged), or drop it when its time
    is up. The handler's service wakes it early when what it waits for arrives."""
    deadline = row.created_at + waiting.give_up_after
    if now >= deadline:
        log.info("inbound %s %s dropped: %s", row.type, row.ap_id, waiting)
        row.state, row.error = ActivityState.DONE, f"ignored: gave up waiting: {waiting}"
        return
    row.error = f"waiting: {waiting}"
    row.process_after = min(now + waiting.retry_after, deadline)


async def process_due(settings: Settings, fetcher: Fetcher) -> int:
    """Process every row due now; returns how many were handled."""
    now = datetime.now(UTC)
    rows = (
        await Activity.filter(inbound=True, state=ActivityState.RECEIVED)
        .filter(Q(process_after__isnull=True) | Q(process_after__lte=now))
        .filter(_unclaimed(now))
        .order_by("id")
        .limit(BATCH)
    )
    handled = 0
    for row in rows:
        if await _claim(row, now):
            await process_one(settings, fetcher, row)
            handled += 1
    return handled


async def run_inbound_worker(
    settings: Settings, fetcher: Fetcher, wakeup: asyncio.Event, *, poll_interval: float = 2.0
) -> None:
    """Forever: process what is due, then sleep until woken by the inbox or the poll.

    The poll catches rows stored by other processes and retries coming due.
    """
    while True:
        wakeup.clear()
        try:
            handled = await process_due(settings, fetcher)
        except Exception:
            log.exception("inbound worker pass failed")
            handled = 0
        if handled:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), poll_interval)
