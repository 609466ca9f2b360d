"""Class 3 (the queue's side): an inbound row that keeps failing stops costing anything.

Each attempt has a time budget, attempts are counted when a row is claimed (one that takes
the process down with it counts), and after `MAX_ATTEMPTS` the row is dropped as failed
with the reason on it, where `fedgroup admin` and the operator's queries see it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from fedgroup.config import Settings
from fedgroup.pipeline import inbound
from fedgroup.pipeline.handlers import InboundContext
from fedgroup.storage.models import Activity, ActivityState

ACTIVITY = "https://remote.example/activities/1"


async def stored_row(kind: str = "Create", attempts: int = 0) -> Activity:
    return await Activity.create(
        ap_id=ACTIVITY,
        type=kind,
        actor="https://remote.example/users/alice",
        inbound=True,
        payload={"id": ACTIVITY, "type": kind, "actor": "https://remote.example/users/alice"},
        attempts=attempts,
    )


async def run_until_settled(calls: list[int]) -> Activity:
    """Process the row again and again, as time passing would, until it leaves the queue."""
    for _ in range(inbound.MAX_ATTEMPTS + 5):
        await Activity.filter(ap_id=ACTIVITY).update(process_after=datetime.now(UTC))
        await inbound.process_due(Settings(), fetcher=None)  # type: ignore[arg-type]
        row = await Activity.get(ap_id=ACTIVITY)
        if row.state != ActivityState.RECEIVED:
            return row
    raise AssertionError(f"still queued after {len(calls)} handler runs")


@pytest.fixture
def handler_calls() -> list[int]:
    return []


async def test_a_row_that_always_fails_is_dropped_after_its_attempts(
    database, monkeypatch, handler_calls
):
    async def broken(_ctx: InboundContext) -> None:
        handler_calls.append(1)
        raise TypeError("unhashable type: 'list'")

    monkeypatch.setitem(inbound.HANDLERS, "Create", broken)
    await stored_row()
    row = await run_until_settled(handler_calls)
    assert row.state == ActivityState.FAILED
    assert len(handler_calls) == inbound.MAX_ATTEMPTS
    assert row.error == "TypeError: unhashable type: 'list'"


async def test_an_attempt_over_its_time_budget_is_cut_and_counted(
    database, monkeypatch, handler_calls
):
    async def stuck(_ctx: InboundContext) -> None:
        handler_calls.append(1)
        await asyncio.sleep(3600)

    monkeypatch.setattr(inbound, "ATTEMPT_BUDGET", 0.05)
    monkeypatch.setitem(inbound.HANDLERS, "Create", stuck)
    await stored_row()
    row = await run_until_settled(handler_calls)
    assert row.state == ActivityState.FAILED
    assert len(handler_calls) == inbound.MAX_ATTEMPTS
    assert row.error == "unfinished: handler ran over its 0.05 s budget"


async def test_a_row_whose_attempts_never_finished_is_dropped_without_running(
    database, monkeypatch, handler_calls
):
    """Attempts that took the process down with them (a restart each time) still count:
    the row is not handled again after its last one."""

    async def fine(_ctx: InboundContext) -> None:
        handler_calls.append(1)

    monkeypatch.setitem(inbound.HANDLERS, "Create", fine)
    await stored_row(attempts=inbound.MAX_ATTEMPTS)
    row = await run_until_settled(handler_calls)
    assert handler_calls == []
    assert row.state == ActivityState.FAILED
    assert row.error == f"unfinished: {inbound.MAX_ATTEMPTS} attempts never finished"


async def test_a_row_claimed_once_and_handled_counts_one_attempt(
    database, monkeypatch, handler_calls
):
    async def fine(_ctx: InboundContext) -> None:
        handler_calls.append(1)

    monkeypatch.setitem(inbound.HANDLERS, "Create", fine)
    await stored_row()
    row = await run_until_settled(handler_calls)
    assert (row.state, row.attempts, handler_calls) == (ActivityState.DONE, 1, [1])
