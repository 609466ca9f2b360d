"""Queuing outbound activities, and the admin view of the queue."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fedgroup.activitypub.hosts import canonical_authority as host_of
from fedgroup.activitypub.keys import generate_rsa_key_pair
from fedgroup.activitypub.netguard import make_client_session
from fedgroup.config import Settings
from fedgroup.pipeline.delivery import DeliveryTiming, delivery_worker, signing_key_resolver
from fedgroup.service.instance import ensure_instance_key
from fedgroup.service.outbound import (
    DeliveryNotifier,
    deliveries_status,
    queue_activity,
    retry_host,
)
from fedgroup.storage.db import close_database, open_database
from fedgroup.storage.models import Activity, Delivery, DeliveryState, Group, Instance
from tests.fakes import FakeInstance
from tests.fakes.template_db import fresh_database

SETTINGS = Settings(base_url="https://groups.test", allow_private_network=True)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[None]:
    await open_database(f"sqlite://{fresh_database(tmp_path / 'db.sqlite3')}")
    yield
    await close_database()


@pytest.fixture
async def group(db: None) -> Group:
    private_pem, public_pem = generate_rsa_key_pair()
    return await Group.create(name="jazz", private_key_pem=private_pem, public_key_pem=public_pem)


def announce(object_id: str = "https://a.test/notes/1") -> dict[str, Any]:
    return {
        "id": f"https://groups.test/groups/jazz/activities/{uuid.uuid4()}",
        "type": "Announce",
        "actor": {"id": "https://groups.test/groups/jazz", "type": "Group"},
        "object": {"id": object_id, "type": "Note"},
    }


async def test_one_activity_and_one_delivery_per_distinct_inbox(group: Group) -> None:
    notifier = DeliveryNotifier()
    wake = notifier.subscribe()
    payload = announce()
    inboxes = [
        "https://a.test/inbox",
        "https://b.test:8443/users/bob/inbox",
        "https://a.test/inbox",
        "https://a.test/users/carol/inbox",
    ]
    before = datetime.now(UTC)
    activity = await queue_activity(
        payload, group=group, inboxes=inboxes, public=True, notifier=notifier
    )
    assert wake.is_set()
    stored = await Activity.get(ap_id=payload["id"])
    assert stored.id == activity.id and stored.inbound is False and stored.public is True
    assert (stored.type, stored.actor) == ("Announce", "https://groups.test/groups/jazz")
    assert stored.object_id == "https://a.test/notes/1"
    assert stored.group_id == group.id  # type: ignore[attr-defined]
    signed = dict(stored.payload)
    signature = signed.pop("signature")
    assert signed == payload
    assert signature["type"] == "RsaSignature2017"
    assert signature["creator"] == "https://groups.test/groups/jazz#main-key"
    rows = await Delivery.filter(activity_id=activity.id).order_by("id")
    assert [(d.inbox, d.host) for d in rows] == [
        ("https://a.test/inbox", "a.test"),
        ("https://b.test:8443/users/bob/inbox", "b.test:8443"),
        ("https://a.test/users/carol/inbox", "a.test"),
    ]
    assert all(d.state is DeliveryState.QUEUED and d.attempts == 0 for d in rows)
    assert all(before <= d.next_attempt_at <= datetime.now(UTC) for d in rows)


async def test_queuing_is_all_or_nothing(group: Group, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(Delivery, "bulk_create", broken)
    payload = announce()
    with pytest.raises(RuntimeError):
        await queue_activity(payload, group=group, inboxes=["https://a.test/inbox"])
    assert not await Activity.exists(ap_id=payload["id"])


async def test_queuing_the_same_id_again_only_adds_new_inboxes(group: Group) -> None:
    payload = announce()
    first = await queue_activity(payload, group=group, inboxes=["https://a.test/inbox"])
    notifier = DeliveryNotifier()
    wake = notifier.subscribe()
    again = await queue_activity(
        {**payload, "type": "Changed"},
        group=group,
        inboxes=["https://a.test/inbox", "https://b.test/inbox"],
        notifier=notifier,
    )
    assert again.id == first.id and again.type == "Announce"
    assert wake.is_set()
    inboxes = await Delivery.filter(activity_id=first.id).values_list("inbox", flat=True)
    assert sorted(inboxes) == ["https://a.test/inbox", "https://b.test/inbox"]

    quiet = DeliveryNotifier()
    silent = quiet.subscribe()
    await queue_activity(payload, group=group, inboxes=["https://b.test/inbox"], notifier=quiet)
    assert not silent.is_set()  # nothing new to send


async def test_an_inbound_id_or_a_malformed_activity_is_refused(group: Group) -> None:
    await Activity.create(
        ap_id="https://a.test/activities/1",
        type="Follow",
        actor="https://a.test/users/alice",
        inbound=True,
        payload={},
    )
    with pytest.raises(ValueError):
        await queue_activity(
            {"id": "https://a.test/activities/1", "type": "Follow", "actor": "x"},
            group=group,
            inboxes=["https://a.test/inbox"],
        )
    with pytest.raises(ValueError):
        await queue_activity({"type": "Announce", "actor": "x"}, group=group, inboxes=[])


async def test_queuing_wakes_a_sleeping_worker(group: Group) -> None:
    async with FakeInstance() as remote:
        session = make_client_session(allow_private=True, user_agent="fedgroup-test")
        worker = delivery_worker(
            SETTINGS,
            session,
            await ensure_instance_key(),
            timing=DeliveryTiming(poll_interval=60),
        )
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.sleep(0.1)  # the worker found nothing and sleeps for a minute
            await queue_activity(announce(), group=group, inboxes=[remote.shared_inbox_url])
            post = await remote.wait_for(timeout=2)
            assert post.status == 202
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await session.close()


async def test_signing_keys_are_the_groups_or_the_instance_actors(group: Group) -> None:
    instance_key = await ensure_instance_key()
    key_for = signing_key_resolver(SETTINGS, instance_key)
    by_group = await queue_activity(announce(), group=group, inboxes=[])
    by_server = await queue_activity(
        {
            "id": "https://groups.test/activities/x",
            "type": "Delete",
            "actor": "https://groups.test/actor",
        },
        group=None,
        inboxes=[],
    )
    assert await key_for(by_group) == (
        "https://groups.test/groups/jazz#main-key",
        group.private_key_pem,
    )
    assert await key_for(by_server) == (
        "https://groups.test/actor#main-key",
        instance_key.private_key_pem,
    )


async def test_status_counts_states_unreachable_hosts_and_backlog(group: Group) -> None:
    await queue_activity(
        announce(),
        group=group,
        inboxes=["https://a.test/inbox", "https://a.test/u/1/inbox", "https://b.test/inbox"],
    )
    await Delivery.filter(inbox="https://b.test/inbox").update(state=DeliveryState.DELIVERED)
    since = datetime.now(UTC) - timedelta(days=1)
    await Instance.create(host="a.test", first_failure_at=since, unreachable_since=since)
    status = await deliveries_status()
    assert status["counts"] == {
        "queued": 2,
        "retrying": 0,
        "delivered": 1,
        "dropped": 0,
        "failed": 0,
    }
    assert [u["host"] for u in status["unreachable"]] == ["a.test"]
    assert status["unreachable"][0]["unreachable_since"] == since.isoformat()
    assert [(b["host"], b["pending"]) for b in status["backlog"]] == [("a.test", 2)]


async def test_retry_host_makes_its_deliveries_due_and_clears_unreachable(group: Group) -> None:
    inboxes = ["https://a.test/1/inbox", "https://a.test/2/inbox", "https://b.test/inbox"]
    await queue_activity(announce(), group=group, inboxes=inboxes)
    later = datetime.now(UTC) + timedelta(hours=3)
    old = datetime.now(UTC) - timedelta(days=9)
    await Delivery.filter(inbox=inboxes[0]).update(
        state=DeliveryState.RETRYING, next_attempt_at=later
    )
    await Delivery.filter(inbox=inboxes[1]).update(state=DeliveryState.FAILED, created_at=old)
    await Delivery.filter(inbox=inboxes[2]).update(
        state=DeliveryState.RETRYING, next_attempt_at=later
    )
    await Instance.create(host="a.test", first_failure_at=old, unreachable_since=old)

    assert await retry_host(host_of(inboxes[0])) == 2
    now = datetime.now(UTC)
    a_rows = await Delivery.filter(host="a.test")
    assert all(d.state is DeliveryState.RETRYING and d.next_attempt_at <= now for d in a_rows)
    assert all(d.created_at > old for d in a_rows)  # the give-up clock starts again
    untouched = await Delivery.get(inbox=inboxes[2])
    assert untouched.next_attempt_at > now
    instance = await Instance.get(host="a.test")
    assert instance.unreachable_since is None and instance.first_failure_at is None
