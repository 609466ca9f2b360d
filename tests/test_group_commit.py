"""Group commit of inbound activities: rows that arrive together share one transaction, each
caller learns its own outcome only after that commit, and one bad row sinks no other."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from fedgroup.activitypub.keys import generate_rsa_key_pair
from fedgroup.pipeline.group_commit import InboundRow, InboxWriter, StoreFailed
from fedgroup.storage.models import Activity, Group


def _row(ap_id: str, *, group_id: int | None = None) -> InboundRow:
    return InboundRow(
        ap_id=ap_id,
        type="Create",
        actor="https://remote.example/users/alice",
        object_id=ap_id + "/object",
        group_id=group_id,
        payload={"id": ap_id, "type": "Create"},
    )


@pytest.fixture
async def writer() -> AsyncIterator[InboxWriter]:
    writer = InboxWriter(max_batch=64)
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0)  # the writer is accepting once its task runs
    try:
        yield writer
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def _group() -> Group:
    private_pem, public_pem = generate_rsa_key_pair()
    return await Group.create(
        name=f"g{uuid.uuid4().hex[:8]}", private_key_pem=private_pem, public_key_pem=public_pem
    )


async def _one_failing_row_sinks_no_other(writer: InboxWriter) -> None:
    group = await _group()
    missing_group = group.id + 1000  # a group deleted while its POST was in flight
    rows = [_row(f"https://remote.example/a/{n}", group_id=group.id) for n in range(5)]
    bad = _row("https://remote.example/a/bad", group_id=missing_group)
    outcomes = await asyncio.gather(
        *(writer.store(row) for row in [*rows[:2], bad, *rows[2:]]), return_exceptions=True
    )
    assert outcomes[:2] + outcomes[3:] == [True] * 5
    assert isinstance(outcomes[2], StoreFailed)
    stored = set(await Activity.all().values_list("ap_id", flat=True))
    assert stored == {row.ap_id for row in rows}, "the others are stored, the bad one is not"


async def _duplicates_are_told_apart(writer: InboxWriter) -> None:
    first = _row("https://remote.example/a/dup")
    assert await writer.store(first) is True
    again = await asyncio.gather(
        writer.store(first), writer.store(_row("https://remote.example/a/twin")),
        writer.store(_row("https://remote.example/a/twin")),
    )
    assert again == [False, True, False], "stored before, new, and twice in one batch"
    assert await Activity.filter(ap_id__startswith="https://remote.example/a/").count() == 2


async def test_one_failing_row_sinks_no_other_sqlite(database: str, writer: InboxWriter) -> None:
    await _one_failing_row_sinks_no_other(writer)


async def test_duplicates_in_and_across_batches_sqlite(database: str, writer: InboxWriter) -> None:
    await _duplicates_are_told_apart(writer)


async def test_many_callers_share_few_commits(database: str, writer: InboxWriter) -> None:
    """300 rows queued at once take a handful of transactions, not 300, and all are stored."""
    commits = 0
    real_insert = writer._commit

    async def counting(batch):  # type: ignore[no-untyped-def]
        nonlocal commits
        commits += 1
        await real_insert(batch)

    writer._commit = counting  # type: ignore[method-assign]
    rows = [_row(f"https://remote.example/many/{n}") for n in range(300)]
    assert await asyncio.gather(*(writer.store(row) for row in rows)) == [True] * 300
    assert commits <= 300 // 64 + 2
    assert await Activity.all().count() == 300


async def test_a_stopped_writer_refuses_instead_of_hanging(database: str) -> None:
    writer = InboxWriter()
    with pytest.raises(StoreFailed):
        await asyncio.wait_for(writer.store(_row("https://remote.example/a/late")), 2)
    assert not await Activity.exists()


async def test_one_failing_row_sinks_no_other_postgres(
    postgres_db: None, writer: InboxWriter
) -> None:
    await _one_failing_row_sinks_no_other(writer)


async def test_duplicates_in_and_across_batches_postgres(
    postgres_db: None, writer: InboxWriter
) -> None:
    await _duplicates_are_told_apart(writer)


async def test_a_full_queue_refuses_instead_of_holding_more(database: str) -> None:
    """Memory stays bounded: past `max_waiting` rows waiting for a commit, the inbox is told
    to answer 503 (the sender retries) rather than keep more bodies."""
    writer = InboxWriter(max_waiting=2)
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0)
    try:
        rows = [_row(f"https://remote.example/full/{n}") for n in range(4)]
        outcomes = await asyncio.gather(*(writer.store(r) for r in rows), return_exceptions=True)
        assert outcomes[:2] == [True, True]
        assert all(isinstance(o, StoreFailed) for o in outcomes[2:])
        assert await Activity.all().count() == 2
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
