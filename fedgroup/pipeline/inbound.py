"""The inbound worker: takes stored activities from the queue and runs their handlers.

Rows are claimed with a lease (`claimed_until`, set by a conditional update, which works
the same on SQLite and PostgreSQL): a process that dies mid-handler leaves the row to be
picked up again when the lease runs out, or at once when the server restarts on SQLite
(where this process is the only claimer). Handlers are idempotent, so at-least-once
processing is safe.

Rows are claimed in batches (one UPDATE) and their outcomes written together (one
transaction), so a row costs two shared commits instead of two of its own. Within a batch,
rows are split into chains (`ordered_chains`): rows that share an actor or an object are in
one chain, handled one after another in arrival order, so an Undo never overtakes the Follow
it undoes and a Like waits for the Create it likes; different chains run concurrently (at most
`CHAINS_AT_ONCE`), so one slow remote fetch does not hold up everyone else's activities.
The next batch is claimed when this one is done, which keeps the order across batches too.

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
from tortoise.transactions import in_transaction

from ..activitypub.signed_fetch import Fetcher
from ..config import Settings
from ..storage.models import Activity, ActivityState
from .handlers import HANDLERS, Deferred, Ignored, InboundContext

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 8
ATTEMPT_BUDGET = 60.0  # seconds one handler run may take
BATCH = 100
CHAINS_AT_ONCE = 16
_OUTCOME_FIELDS = ["state", "error", "attempts", "process_after", "claimed_until"]


class _Unfinished(Exception):
    """An attempt that did not finish: over its time budget, or lost with its process."""


def retry_delay(attempts: int) -> timedelta:
    """10 s, 20 s, 40 s … capped at an hour: a peer that was briefly down gets its turn."""
    return timedelta(seconds=min(10 * 2 ** max(attempts - 1, 0), 3600))


def _unclaimed(now: datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def _is_postgres() -> bool:
    return Activity._meta.db.capabilities.dialect == "postgres"


async def _claim_batch(now: datetime, limit: int) -> list[Activity]:
    """Lease up to `limit` due rows to this process, oldest first; each claim counts an
    attempt. Rows another process holds are skipped, never waited for."""
    due = (
        Activity.filter(inbound=True, state=ActivityState.RECEIVED)
        .filter(Q(process_after__isnull=True) | Q(process_after__lte=now))
        .filter(_unclaimed(now))
        .order_by("id")
        .limit(limit)
    )
    until = now + LEASE
    if _is_postgres():
        async with in_transaction() as connection:
            rows = list(await due.select_for_update(skip_locked=True).using_db(connection))
            if rows:
                await Activity.filter(id__in=[row.id for row in rows]).using_db(
                    connection
                ).update(claimed_until=until, attempts=F("attempts") + 1)
    else:
        # One claimer per SQLite file (the server process), so the rows read are the rows
        # claimed; the UPDATE re-checks the condition all the same.
        rows = list(await due)
        if rows:
            await Activity.filter(_unclaimed(now), id__in=[row.id for row in rows]).update(
                claimed_until=until, attempts=F("attempts") + 1
            )
    for row in rows:
        row.attempts += 1
    return rows


def ordered_chains(rows: list[Activity], local_prefix: str) -> list[list[Activity]]:
    """Split rows (in arrival order) into chains: rows sharing an actor or a remote object,
    even through other rows, end up in one chain, kept in arrival order.

    Our own objects (`local_prefix`: a group that many follow at once, its announces that
    many like) join nothing: their order between different actors does not matter, and
    joining on them would make one chain of a whole group's traffic."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def keys(row: Activity) -> list[str]:
        remote_object = row.object_id and not row.object_id.startswith(local_prefix)
        return ["a:" + row.actor] + (["o:" + row.object_id] if remote_object else [])

    for row in rows:
        first, *rest = keys(row)
        for other in rest:
            parent[root(other)] = root(first)
    chains: dict[str, list[Activity]] = {}
    for row in rows:
        chains.setdefault(root(keys(row)[0]), []).append(row)
    return list(chains.values())


async def process_one(settings: Settings, fetcher: Fetcher, row: Activity) -> None:
    """Run the handler for one claimed row and record the outcome on it."""
    await _run_handler(settings, fetcher, row)
    await row.save(update_fields=_OUTCOME_FIELDS)


async def _run_handler(settings: Settings, fetcher: Fetcher, row: Activity) -> None:
    """Run the handler for one claimed row and set its outcome on it (saved by the caller)."""
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


def _is_waiting(row: Activity) -> bool:
    return row.state == ActivityState.RECEIVED and (row.error or "").startswith("waiting:")


async def _save_outcomes(rows: list[Activity]) -> None:
    async with in_transaction() as connection:
        for row in rows:
            await row.save(update_fields=_OUTCOME_FIELDS, using_db=connection)


async def process_due(settings: Settings, fetcher: Fetcher) -> int:
    """Process one batch of the rows due now; returns how many were handled."""
    rows = await _claim_batch(datetime.now(UTC), BATCH)
    if not rows:
        return 0
    room = asyncio.Semaphore(CHAINS_AT_ONCE)
    finished: list[Activity] = []

    async def run_chain(chain: list[Activity]) -> None:
        async with room:
            waiting: list[Activity] = []
            for row in chain:
                await _run_handler(settings, fetcher, row)
                finished.append(row)
                if _is_waiting(row):
                    waiting.append(row)
                elif waiting:
                    # What they wait for may have come with this row (a Like's Create):
                    # the wake-up its handler sent went to rows not yet saved, so ask again.
                    for again in waiting:
                        again.attempts += 1  # a waiting row's retry is no new attempt
                        await _run_handler(settings, fetcher, again)
                    waiting = [row for row in waiting if _is_waiting(row)]

    try:
        chains = ordered_chains(rows, settings.url("/"))
        await asyncio.gather(*(run_chain(chain) for chain in chains))
    finally:
        # Also when cancelled (shutdown): what finished is recorded; the rest keeps its
        # claim, released at the next start.
        if finished:
            await asyncio.shield(_save_outcomes(finished))
    return len(rows)


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
