"""The delivery worker, as remote servers see it: fake instances on loopback receive what it
sends, check its signatures, and answer with the statuses real servers answer with."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from fedgroup.activitypub.actors import group_urls
from fedgroup.activitypub.backoff import BackoffSchedule
from fedgroup.activitypub.hosts import canonical_authority as host_of
from fedgroup.activitypub.httpsig import SignatureError, load_public_key, parse_request_signature
from fedgroup.activitypub.keys import generate_rsa_key_pair
from fedgroup.activitypub.netguard import make_client_session
from fedgroup.config import Settings
from fedgroup.pipeline.delivery import (
    DeliveryTiming,
    DeliveryWorker,
    claim_due_deliveries,
    fail_expired_deliveries,
    signing_key_resolver,
)
from fedgroup.service.instance import ensure_instance_key
from fedgroup.service.instances import InstanceLiveness, mark_alive
from fedgroup.service.outbound import DeliveryNotifier, queue_activity
from fedgroup.storage.db import close_database, open_database
from fedgroup.storage.models import Delivery, DeliveryState, Group, Instance
from tests.fakes import FakeInstance, status_sequence
from tests.fakes.instance import next_loopback_address
from tests.fakes.template_db import fresh_database

SETTINGS = Settings(
    base_url="http://groups.test",
    allow_private_network=True,
    delivery_concurrency=4,
    delivery_per_host=2,
)
FAST = BackoffSchedule(base=0.05, cap=0.2, jitter=0.0)
TIMING = DeliveryTiming(
    connect_timeout=0.5, total_timeout=1.5, lease=10, poll_interval=0.05, probe_interval=3600
)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[None]:
    await open_database(f"sqlite://{fresh_database(tmp_path / 'db.sqlite3')}")
    yield
    await close_database()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    client = make_client_session(allow_private=True, user_agent="fedgroup-test")
    yield client
    await client.close()


@pytest.fixture
async def group(db: None) -> Group:
    private_pem, public_pem = generate_rsa_key_pair()
    return await Group.create(name="jazz", private_key_pem=private_pem, public_key_pem=public_pem)


@pytest.fixture
async def make_worker(
    group: Group, session: aiohttp.ClientSession
) -> Callable[..., DeliveryWorker]:
    instance_key = await ensure_instance_key()

    def make(settings: Settings = SETTINGS, **overrides: Any) -> DeliveryWorker:
        options: dict[str, Any] = {"schedule": FAST, "timing": TIMING}
        options.update(overrides)
        return DeliveryWorker(
            settings=settings,
            session=session,
            key_for=signing_key_resolver(settings, instance_key),
            liveness=InstanceLiveness(settings),
            notifier=DeliveryNotifier(),
            **options,
        )

    return make


def signed_by(group: Group, *, schemes: tuple[str, ...] = ("cavage", "rfc9421")):
    """The fake's inbox check: a fresh signature by the group's key, in one of `schemes`."""
    public_key = load_public_key(group.public_key_pem)
    key_id = group_urls(SETTINGS.base_url, group.name).key_id

    def verify(request: web.Request, body: bytes) -> bool:
        try:
            claim = parse_request_signature(
                "POST", str(request.url), request.headers, has_body=True, now=time.time(), body=body
            )
        except SignatureError:
            return False
        return claim.scheme in schemes and claim.key_id == key_id and claim.verify(public_key)

    return verify


def note_activity(group: Group, n: int = 1) -> dict[str, Any]:
    actor = group_urls(SETTINGS.base_url, group.name).actor
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/activities/{uuid.uuid4()}",
        "type": "Announce",
        "actor": actor,
        "object": f"http://remote.test/notes/{n}",
    }


async def queue_to(group: Group, inbox: str, n: int = 1) -> Delivery:
    activity = await queue_activity(note_activity(group, n), group=group, inboxes=[inbox])
    return await Delivery.get(activity_id=activity.id)


async def settled(delivery: Delivery, within: float = 5.0) -> Delivery:
    """The delivery row once it is no longer pending."""
    async with asyncio.timeout(within):
        while True:
            await delivery.refresh_from_db()
            if delivery.state not in (DeliveryState.QUEUED, DeliveryState.RETRYING):
                return delivery
            await asyncio.sleep(0.02)


async def running(worker: DeliveryWorker) -> asyncio.Task[None]:
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_delivered_once_signed_by_the_group_and_never_resent(group, make_worker) -> None:
    async with FakeInstance() as remote:
        remote.verify = signed_by(group, schemes=("cavage",))
        delivery = await queue_to(group, remote.shared_inbox_url)
        worker = make_worker()
        assert await worker.run_once() == 1

        post = await remote.wait_for()
        assert post.verified is True and post.status == 202
        assert post.headers["Content-Type"] == "application/activity+json"
        activity = await delivery.activity
        assert post.json == activity.payload
        delivery = await settled(delivery)
        assert delivery.state is DeliveryState.DELIVERED
        assert delivery.delivered_at is not None and delivery.attempts == 1

        assert await make_worker().run_once() == 0
        await asyncio.sleep(0.1)
        assert len(remote.received) == 1


async def test_two_500s_then_202_delivers_exactly_once(group, make_worker) -> None:
    async with FakeInstance() as remote:
        remote.verify = signed_by(group)
        remote.inbox_responder = status_sequence(500, 500, then=202)
        delivery = await queue_to(group, remote.shared_inbox_url)
        task = await running(make_worker())
        try:
            delivery = await settled(delivery)
        finally:
            await stop(task)
        assert [p.status for p in remote.received] == [500, 500, 202]
        assert all(p.verified for p in remote.received)
        assert len({p.body for p in remote.received}) == 1  # the same activity every time
        assert delivery.state is DeliveryState.DELIVERED and delivery.attempts == 3
        assert delivery.last_status == 202


@pytest.mark.parametrize("status", [410, 403])
async def test_refusals_are_dropped_not_retried(group, make_worker, status: int) -> None:
    async with FakeInstance() as remote:
        remote.inbox_responder = lambda _post: status
        delivery = await queue_to(group, remote.shared_inbox_url)
        task = await running(make_worker())
        try:
            delivery = await settled(delivery)
            await asyncio.sleep(0.3)  # several backoff periods of the fast schedule
        finally:
            await stop(task)
        assert len(remote.received) == 1
        assert delivery.state is DeliveryState.DROPPED
        assert delivery.last_status == status and str(status) in (delivery.last_error or "")


async def test_429_retry_after_is_honoured(group, make_worker) -> None:
    arrivals: list[float] = []

    async def rate_limited(request: web.Request) -> web.Response:
        await request.read()
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:
            return web.Response(status=429, headers={"Retry-After": "1"})
        return web.Response(status=202)

    async with FakeInstance() as remote:
        remote.route("/inbox", rate_limited)
        delivery = await queue_to(group, remote.shared_inbox_url)
        task = await running(make_worker())
        try:
            delivery = await settled(delivery, within=5)
        finally:
            await stop(task)
    assert delivery.state is DeliveryState.DELIVERED
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.95  # not the 0.05 s our own schedule would wait


class FakeInstanceOnPort(FakeInstance):
    """A fake that comes back on a given port: the same server, restarted."""

    def __init__(self, *, port: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fixed_port = port

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.address, self._fixed_port))
        self.port = self._fixed_port
        await web.SockSite(self._runner, sock).start()


async def test_a_server_that_was_down_gets_it_when_it_comes_back(group, make_worker) -> None:
    address = next_loopback_address()
    with socket.socket() as probe:
        probe.bind((address, 0))
        port = probe.getsockname()[1]
    inbox = f"http://{address}:{port}/inbox"
    delivery = await queue_to(group, inbox)
    task = await running(make_worker())
    try:
        async with asyncio.timeout(3):
            while delivery.attempts < 2:  # refused, refused…
                await delivery.refresh_from_db()
                await asyncio.sleep(0.02)
        assert delivery.state is DeliveryState.RETRYING and delivery.last_status is None
        assert delivery.last_error
        async with FakeInstanceOnPort(address=address, port=port) as remote:
            remote.verify = signed_by(group)
            delivery = await settled(delivery)
            assert [(p.status, p.verified) for p in remote.received] == [(202, True)]
    finally:
        await stop(task)
    assert delivery.state is DeliveryState.DELIVERED


async def test_double_knock_switches_to_rfc9421_and_remembers_it(group, make_worker) -> None:
    async with FakeInstance() as remote:
        remote.verify = signed_by(group, schemes=("rfc9421",))
        first = await queue_to(group, remote.shared_inbox_url, 1)
        await make_worker().run_once()
        first = await settled(first)
        assert [p.status for p in remote.received] == [401, 202]
        assert "Signature-Input" not in remote.received[0].headers
        assert "Signature-Input" in remote.received[1].headers
        assert first.state is DeliveryState.DELIVERED and first.attempts == 1
        instance = await Instance.get(host=host_of(remote.shared_inbox_url))
        assert instance.signature_scheme == "rfc9421"

        second = await queue_to(group, remote.shared_inbox_url, 2)
        await make_worker().run_once()
        assert (await settled(second)).state is DeliveryState.DELIVERED
        assert [p.status for p in remote.received] == [401, 202, 202]  # straight to RFC 9421


async def test_a_dead_host_does_not_delay_a_healthy_one(group, make_worker) -> None:
    async def black_hole(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(status=202)

    async with FakeInstance() as dead, FakeInstance() as healthy:
        dead.route("/inbox", black_hole)
        stuck = [await queue_to(group, dead.shared_inbox_url, n) for n in range(4)]
        fine = [await queue_to(group, healthy.shared_inbox_url, n) for n in range(4)]
        started = time.monotonic()
        task = await running(make_worker())
        try:
            for delivery in fine:
                assert (await settled(delivery)).state is DeliveryState.DELIVERED
            elapsed = time.monotonic() - started
            for delivery in stuck:
                await delivery.refresh_from_db()
                assert delivery.state is DeliveryState.QUEUED and delivery.attempts == 0
        finally:
            await stop(task)
        assert elapsed < TIMING.total_timeout
        assert len(healthy.received) == 4
        # The worker gave the dead host no more than its per-host share.
        assert len(dead.requests) <= SETTINGS.delivery_per_host


async def test_an_expired_lease_is_claimed_again(group, make_worker) -> None:
    async with FakeInstance() as remote:
        delivery = await queue_to(group, remote.shared_inbox_url)
        now = datetime.now(UTC)
        assert await claim_due_deliveries(now=now, lease=60, limit=10) == [delivery.id]
        assert await claim_due_deliveries(now=now, lease=60, limit=10) == []
        assert await make_worker().run_once() == 0  # another worker holds the lease
        assert remote.received == []

        later = now + timedelta(seconds=61)
        assert await claim_due_deliveries(now=later, lease=60, limit=10) == [delivery.id]
        await Delivery.filter(id=delivery.id).update(claimed_until=now - timedelta(seconds=1))
        assert await make_worker().run_once() == 1
        assert (await settled(delivery)).state is DeliveryState.DELIVERED
        assert len(remote.received) == 1


async def test_per_host_room_bounds_one_claim(group) -> None:
    a, b = "http://a.test/inbox", "http://b.test/inbox"
    for n in range(5):
        await queue_to(group, a, n)
    await queue_to(group, b)
    claimed = await claim_due_deliveries(
        now=datetime.now(UTC), lease=60, limit=4, room_for=lambda _host: 2
    )
    hosts = await Delivery.filter(id__in=claimed).values_list("host", flat=True)
    assert sorted(hosts) == ["a.test", "a.test", "b.test"]


async def test_after_the_give_up_time_a_failing_delivery_fails(group, make_worker) -> None:
    async with FakeInstance() as remote:
        remote.inbox_responder = lambda _post: 503
        delivery = await queue_to(group, remote.shared_inbox_url)
        eight_days_ago = datetime.now(UTC) - timedelta(days=8)
        await Delivery.filter(id=delivery.id).update(created_at=eight_days_ago)
        await make_worker().run_once()
        delivery = await settled(delivery)
        assert delivery.state is DeliveryState.FAILED and delivery.last_status == 503
        assert len(remote.received) == 1  # one last try, then no more
        assert await make_worker().run_once() == 0


async def test_unattempted_deliveries_past_the_give_up_time_fail(group) -> None:
    delivery = await queue_to(group, "http://gone.test/inbox")
    await Delivery.filter(id=delivery.id).update(
        created_at=datetime.now(UTC) - timedelta(days=8),
        next_attempt_at=datetime.now(UTC) + timedelta(hours=1),
    )
    failed = await fail_expired_deliveries(
        now=datetime.now(UTC), give_up_after=SETTINGS.delivery_give_up_after
    )
    assert failed == 1
    assert (await settled(delivery)).state is DeliveryState.FAILED


async def test_unsafe_inbox_is_dropped_without_a_request(group, make_worker) -> None:
    strict = Settings(base_url=SETTINGS.base_url, allow_private_network=False)
    async with FakeInstance() as remote:
        delivery = await queue_to(group, remote.shared_inbox_url)
        await make_worker(strict).run_once()
        delivery = await settled(delivery)
        assert delivery.state is DeliveryState.DROPPED
        assert "unsafe inbox" in (delivery.last_error or "")
        assert remote.requests == []


async def test_a_host_failing_long_enough_becomes_unreachable_and_gets_only_probes(
    group, make_worker
) -> None:
    async with FakeInstance() as remote:
        host = host_of(remote.shared_inbox_url)
        remote.inbox_responder = lambda _post: 503
        deliveries = [await queue_to(group, remote.shared_inbox_url, n) for n in range(3)]
        # It has been failing for two days already.
        await Instance.create(host=host, first_failure_at=datetime.now(UTC) - timedelta(days=2))
        probing = DeliveryTiming(
            connect_timeout=0.5, total_timeout=1.5, lease=10, poll_interval=0.05, probe_interval=0.3
        )
        worker = make_worker(timing=probing)
        await worker.run_once()
        instance = await Instance.get(host=host)
        assert instance.unreachable_since is not None
        sent = len(remote.received)
        assert sent <= SETTINGS.delivery_per_host  # the first round, before it was marked

        await asyncio.sleep(0.35)
        assert await worker.run_once() == 1  # one probe, not the whole backlog
        assert len(remote.received) == sent + 1

        remote.inbox_responder = lambda _post: 202
        await asyncio.sleep(0.35)
        await worker.run_once()  # the probe succeeds and the backlog follows at once
        for delivery in deliveries:
            assert (await settled(delivery)).state is DeliveryState.DELIVERED
        instance = await Instance.get(host=host)
        assert instance.unreachable_since is None and instance.first_failure_at is None


async def test_mark_alive_clears_unreachable_and_sends_the_backlog_now(group, make_worker) -> None:
    async with FakeInstance() as remote:
        host = host_of(remote.shared_inbox_url)
        delivery = await queue_to(group, remote.shared_inbox_url)
        long_ago = datetime.now(UTC) - timedelta(days=2)
        await Instance.create(host=host, first_failure_at=long_ago, unreachable_since=long_ago)
        await Delivery.filter(id=delivery.id).update(
            state=DeliveryState.RETRYING, next_attempt_at=datetime.now(UTC) + timedelta(hours=1)
        )
        assert await make_worker().run_once() == 0

        assert await mark_alive(host) is True
        assert await mark_alive(host) is False  # nothing left to clear
        instance = await Instance.get(host=host)
        assert instance.unreachable_since is None and instance.first_failure_at is None
        assert await make_worker().run_once() == 1
        assert (await settled(delivery)).state is DeliveryState.DELIVERED
        assert len(remote.received) == 1


# ------------------------------------------------------------------------------ PostgreSQL

async def test_postgres_concurrent_claimers_never_share_a_row(postgres_db: None) -> None:
    private_pem, public_pem = generate_rsa_key_pair()
    group = await Group.create(name="pg", private_key_pem=private_pem, public_key_pem=public_pem)
    for n in range(12):
        activity = note_activity(group, n)
        inboxes = [f"http://h{i}.test/inbox" for i in range(5)]
        await queue_activity(activity, group=group, inboxes=inboxes, notifier=DeliveryNotifier())
    now = datetime.now(UTC)

    async def claimer() -> list[int]:
        mine: list[int] = []
        while batch := await claim_due_deliveries(now=now, lease=60, limit=3):
            mine.extend(batch)
        return mine

    results = await asyncio.gather(*(claimer() for _ in range(8)))
    claimed = [row for result in results for row in result]
    assert len(claimed) == len(set(claimed)) == 60
    assert sum(1 for result in results if result) > 1  # the claimers really ran side by side
    assert await claim_due_deliveries(now=now, lease=60, limit=100) == []
    expired = now + timedelta(seconds=61)
    assert len(await claim_due_deliveries(now=expired, lease=60, limit=100)) == 60


async def test_the_worker_survives_a_failing_database_query(group, make_worker) -> None:
    async with FakeInstance() as remote:
        worker = make_worker()
        real = worker.liveness.unreachable_hosts
        calls = 0

        async def flaky() -> set[str]:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise OSError("database is locked")
            return await real()

        worker.liveness.unreachable_hosts = flaky  # type: ignore[method-assign]
        delivery = await queue_to(group, remote.shared_inbox_url)
        task = await running(worker)
        try:
            assert (await settled(delivery)).state is DeliveryState.DELIVERED
        finally:
            await stop(task)
        assert calls > 1 and len(remote.received) == 1


async def test_a_delivery_the_host_keeps_refusing_with_500_keeps_its_backoff(
    group, make_worker
) -> None:
    poison_id = note_activity(group, 99)["object"]
    async with FakeInstance() as remote:
        remote.inbox_responder = lambda post: 500 if post.json["object"] == poison_id else 202
        slow = BackoffSchedule(base=60, cap=60, jitter=0.0)
        poison = await queue_to(group, remote.shared_inbox_url, 99)
        worker = make_worker(schedule=slow)
        await worker.run_once()
        await poison.refresh_from_db()
        assert poison.state is DeliveryState.RETRYING and poison.last_status == 500
        parked_until = poison.next_attempt_at

        healthy = await queue_to(group, remote.shared_inbox_url, 1)
        await worker.run_once()  # a success to the same host…
        assert (await settled(healthy)).state is DeliveryState.DELIVERED
        await poison.refresh_from_db()
        assert poison.next_attempt_at == parked_until  # …does not retry the 500 at once
        assert [p.status for p in remote.received] == [500, 202]
