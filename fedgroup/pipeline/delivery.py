"""The delivery worker: sends queued outbound activities to remote inboxes, durably.

Every (activity, inbox) pair is a `Delivery` row, and the row alone says where it stands, so
a crash or restart loses nothing. The worker claims due rows with a lease (`claimed_until`):
a worker that dies mid-send holds them only until the lease runs out. On PostgreSQL the claim
is `SELECT … FOR UPDATE SKIP LOCKED`, so several processes share the queue; on SQLite each row
is taken by a conditional UPDATE, which is just as exclusive.

A dead server must never slow the living: connections time out quickly, each host gets at
most `settings.delivery_per_host` concurrent sends out of `settings.delivery_concurrency`, and
a host that has failed for `settings.unreachable_after` only gets one probe delivery now and
then. Each request is signed afresh: draft-cavage unless the host is known to want RFC 9421,
and when a host refuses a signature we knock again with the other scheme in the same attempt.

The worker is the last stage of the pipeline; `delivery_worker` wires it to our keys and to
instance liveness (service.instances).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import aiohttp
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from ..activitypub.actors import group_urls, instance_actor_url
from ..activitypub.backoff import (
    BackoffSchedule,
    Outcome,
    classify_status,
    host_answered,
    next_attempt_at,
    parse_retry_after,
)
from ..activitypub.hosts import host_or_none
from ..activitypub.httpsig import Scheme, is_signature_rejection
from ..activitypub.keys import load_private_key
from ..activitypub.netguard import ForbiddenAddress, UnsafeURL, check_url
from ..activitypub.signer import sign_request_off_loop
from ..caching import BoundedCache
from ..config import Settings
from ..service.instances import InstanceLiveness
from ..service.lifecycle import delivery_settled, retired_signing_key
from ..service.outbound import DeliveryNotifier, delivery_notifier
from ..service.policies import load_policies
from ..storage.models import Activity, Delivery, DeliveryState, Group, ServerKey
from .write_batch import CommitBatcher, Merged

log = logging.getLogger(__name__)

#: Outbound activities as sent: the row and its serialized body, by activity id, so an
#: activity going to a thousand inboxes is read and serialized once. An outbound payload is
#: not changed once queued (queuing the same id again keeps the stored one).
_SENDABLE: BoundedCache[int, tuple[Activity, bytes]] = BoundedCache(
    "outbound_bodies", max_entries=256, ttl=600.0
)
#: Our private keys, parsed, by their PEM: a key is parsed once, not per signature; a
#: rotated key has another PEM, so it is used at once.
_PARSED_KEYS: BoundedCache[str, object] = BoundedCache("private_keys", max_entries=64, ttl=3600.0)


def _parsed(private_pem: str) -> object:
    key = _PARSED_KEYS.get(private_pem)
    if key is None:
        key = load_private_key(private_pem)
        _PARSED_KEYS.put(private_pem, key)
    return key


def _body(activity: Activity) -> tuple[Activity, bytes]:
    known = (activity, json.dumps(activity.payload, ensure_ascii=False).encode("utf-8"))
    _SENDABLE.put(activity.id, known)
    return known


async def _sendable(activity_id: int) -> tuple[Activity, bytes] | None:
    known = _SENDABLE.get(activity_id)
    if known is None:
        activity = await Activity.get_or_none(id=activity_id)
        if activity is None:
            return None
        known = _body(activity)
    return known


async def _sendables(activity_ids: Collection[int]) -> dict[int, tuple[Activity, bytes]]:
    """The bodies of a round's activities: those not in memory are read in one query (read
    one by one, the sends of one activity that start together would each miss the cache)."""
    found: dict[int, tuple[Activity, bytes]] = {}
    missing = []
    for activity_id in activity_ids:
        known = _SENDABLE.get(activity_id)
        if known is None:
            missing.append(activity_id)
        else:
            found[activity_id] = known
    if missing:
        for activity in await Activity.filter(id__in=missing):
            found[activity.id] = _body(activity)
    return found


PENDING_STATES = (DeliveryState.QUEUED, DeliveryState.RETRYING)
ACTIVITY_JSON = "application/activity+json"
_MAX_ANSWER_BYTES = 64 * 1024  # enough to see why a peer refused, and to keep the connection
_MAX_ERROR_CHARS = 500
LIVENESS_VIEW_AGE = 0.5  # seconds
#: Rows claimed at most per round, and sends' worth held per host (times its slots).
CLAIM_ROUND = 128
HELD_PER_HOST = 4

KeyFor = Callable[[Activity], Awaitable[tuple[str, str] | None]]
"""(key id, private key PEM) to sign an activity's deliveries with; None when the key is
gone for good (a deleted group whose Delete has been settled): the delivery is dropped."""

Settled = Callable[[Activity], Awaitable[None]]
"""Told when one of an activity's deliveries reached its final state."""


@dataclass(frozen=True)
class Prepared:
    """What a round read once for all its sends of one activity: the row, the body as sent,
    and the key that signs it (None: retired)."""

    activity: Activity
    body: bytes
    key: tuple[str, str] | None


class HostLiveness(Protocol):
    """What the worker needs to know and tell about remote instances (service.instances)."""

    async def unreachable_hosts(self) -> set[str]: ...

    async def failing_hosts(self) -> set[str]:
        """Hosts whose last attempt failed (not yet unreachable): they get one slot."""
        ...

    async def signature_scheme(self, host: str) -> str | None: ...

    async def host_answered(self, host: str, *, signature_scheme: str | None) -> None: ...

    async def hosts_answered(self, answers: dict[str, str | None]) -> None:
        """`host_answered` for many (host -> the scheme they accepted)."""
        ...

    async def load_schemes(self, hosts: Iterable[str]) -> None:
        """Read the schemes of many hosts at once, ahead of `signature_scheme`."""
        ...

    async def host_failed(self, host: str) -> bool:
        """Record a failure; True when the host is now unreachable."""
        ...


@dataclass(frozen=True)
class DeliveryTiming:
    """Time limits of the worker; tests shrink them."""

    connect_timeout: float = 5.0
    total_timeout: float = 30.0
    lease: float = 120.0  # longer than two knocks at total_timeout each
    poll_interval: float = 5.0
    probe_interval: float = 3600.0  # an unreachable host gets one probe this often


def utc_now() -> datetime:
    return datetime.now(UTC)


def _claimable(now: datetime) -> Q:
    return Q(
        Q(state__in=PENDING_STATES),
        Q(next_attempt_at__lte=now),
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
    )


def _is_postgres() -> bool:
    return Delivery._meta.db.capabilities.dialect == "postgres"


async def claim_due_deliveries(
    *,
    now: datetime,
    lease: float,
    limit: int,
    room_for: Callable[[str], int] | None = None,
    only_hosts: Collection[str] | None = None,
    skip_hosts: Collection[str] = (),
) -> list[int]:
    """Lease up to `limit` due deliveries to this claimer; returns their ids.

    `room_for(host)` bounds how many may be taken per host (the claimer's free per-host
    slots). Rows another claimer holds are skipped, never waited for; a lease that ran out
    is fair game. Oldest due first.
    """
    if limit <= 0 or (only_hosts is not None and not only_hosts):
        return []
    query = Delivery.filter(_claimable(now))
    if only_hosts is not None:
        query = query.filter(host__in=list(only_hosts))
    if skip_hosts:
        query = query.exclude(host__in=list(skip_hosts))
    query = query.order_by("next_attempt_at", "id").limit(limit * 4)
    until = now + timedelta(seconds=lease)

    def pick(rows: list[tuple[int, str]]) -> list[int]:
        taken: Counter[str] = Counter()
        picked = []
        for row_id, host in rows:
            if room_for is not None and taken[host] >= room_for(host):
                continue
            taken[host] += 1
            picked.append(row_id)
            if len(picked) == limit:
                break
        return picked

    if _is_postgres():
        async with in_transaction() as connection:
            # Whole rows: tortoise drops FOR UPDATE from values()/values_list() queries.
            locked = await query.select_for_update(skip_locked=True).using_db(connection)
            picked = pick([(row.id, row.host) for row in locked])
            if picked:
                await (
                    Delivery.filter(id__in=picked).using_db(connection).update(claimed_until=until)
                )
        return picked
    picked = pick(await query.values_list("id", "host"))
    if not picked:
        return []
    # One UPDATE for all: the condition is re-checked by it, so a row another claimer took
    # meanwhile is not taken again; those it did take carry our lease's exact time.
    taken = await Delivery.filter(_claimable(now), id__in=picked).update(claimed_until=until)
    if taken == len(picked):
        return picked
    return list(
        await Delivery.filter(id__in=picked, claimed_until=until).values_list("id", flat=True)
    )


async def fail_expired_deliveries(*, now: datetime, give_up_after: float) -> int:
    """Give up on unclaimed pending deliveries older than `give_up_after` (e.g. those to a
    host that stayed unreachable); returns how many."""
    return await Delivery.filter(
        Q(state__in=PENDING_STATES),
        Q(created_at__lte=now - timedelta(seconds=give_up_after)),
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
    ).update(
        state=DeliveryState.FAILED,
        claimed_until=None,
        last_error=f"gave up: not delivered within {int(give_up_after)} s",
    )


@dataclass(frozen=True)
class SendResult:
    """What one POST came to: a status and a bit of the answer, or a network error."""

    status: int | None = None
    answer: str = ""
    retry_after: str | None = None
    error: str | None = None
    unsafe: bool = False


def _other_scheme(scheme: Scheme) -> Scheme:
    return "rfc9421" if scheme == "cavage" else "cavage"


class DeliveryWorker:
    """Claims due deliveries and sends them, within global and per-host limits."""

    def __init__(
        self,
        *,
        settings: Settings,
        session: aiohttp.ClientSession,
        key_for: KeyFor,
        liveness: HostLiveness,
        schedule: BackoffSchedule | None = None,
        timing: DeliveryTiming | None = None,
        notifier: DeliveryNotifier = delivery_notifier,
        clock: Callable[[], datetime] = utc_now,
        on_settled: Settled | None = None,
    ) -> None:
        self.settings = settings
        self.on_settled = on_settled
        # Outcomes of sends share commits: one disk flush for many deliveries.
        self.writes = CommitBatcher()
        self._delivered = Merged("delivered", self._apply_delivered)
        self._view: tuple[set[str], set[str]] | None = None
        self._view_at = 0.0
        self.session = session
        self.key_for = key_for
        self.liveness = liveness
        self.schedule = schedule or BackoffSchedule()
        self.timing = timing or DeliveryTiming()
        self.notifier = notifier
        self.clock = clock
        self._timeout = aiohttp.ClientTimeout(
            total=self.timing.total_timeout, sock_connect=self.timing.connect_timeout
        )
        self._in_flight: dict[asyncio.Task[None], tuple[int, str]] = {}
        self._per_host: Counter[str] = Counter()
        # Claimed rows not yet started, per host, with when they were claimed (loop time).
        self._held: dict[str, deque[tuple[float, Delivery]]] = {}
        self._held_count = 0
        self._prepared: dict[int, Prepared] = {}
        self._held_per_activity: Counter[int] = Counter()
        self._stale: list[int] = []
        self._releases: set[asyncio.Task[None]] = set()
        self._recording: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver until cancelled: claim what is due, wake on new work, a finished send, the
        next retry time or the poll interval, whichever comes first."""
        wake = self.notifier.subscribe()
        swept_at: float | None = None
        loop = asyncio.get_running_loop()
        try:
            while True:
                wake.clear()
                self._slot_freed.clear()
                try:
                    await self.start_due()
                    if swept_at is None or loop.time() - swept_at >= self.timing.poll_interval:
                        swept_at = loop.time()
                        await fail_expired_deliveries(
                            now=self.clock(), give_up_after=self.settings.delivery_give_up_after
                        )
                    # While sends are out, the next one to end wakes the loop anyway.
                    pause = (
                        self.timing.poll_interval
                        if self._in_flight
                        else await self._seconds_until_next_due()
                    )
                except Exception:
                    # A locked or restarting database must not end deliveries for good.
                    log.exception("delivery worker: claiming failed, trying again shortly")
                    pause = self.timing.poll_interval
                await self._sleep(wake, pause)
        finally:
            self.notifier.unsubscribe(wake)
            await self._abandon_in_flight()
            await self._outcomes_recorded()
            await self.writes.settle()

    async def run_once(self) -> int:
        """Send everything due now (as the caps allow, round after round) and wait for it;
        returns how many deliveries were attempted. For tests and one-shot tools."""
        attempted = 0
        while True:
            started = await self.start_due()
            if not started and not self._in_flight:
                if not self._recording:
                    return attempted
                await self._outcomes_recorded()
                continue
            attempted += started
            if self._in_flight:
                await asyncio.wait(list(self._in_flight), return_when=asyncio.FIRST_COMPLETED)

    async def _outcomes_recorded(self) -> None:
        """Wait until every outcome being recorded in the background is committed."""
        while self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)

    async def start_due(self) -> int:
        """Start sends for the free slots, from the rows this worker holds and, when those run
        low, from a new claim; returns how many started.

        Claims are made in rounds of up to `CLAIM_ROUND` rows and held in memory per host
        (at most `HELD_PER_HOST` sends' worth each), so a send that ends starts the next one
        without a query: claiming for every free slot cost more than the send itself."""
        unreachable, failing = await self._liveness_view()
        started = self._start_held(failing)
        if self._held_count < self.settings.delivery_concurrency:
            room = CLAIM_ROUND - self._held_count
            ids = await claim_due_deliveries(
                now=self.clock(),
                lease=self.timing.lease,
                limit=room,
                room_for=lambda host: (
                    self._cap(host, failing) * HELD_PER_HOST
                    - self._per_host[host]
                    - len(self._held.get(host, ()))
                ),
                skip_hosts=unreachable | self._full_hosts(failing),
            )
            await self._hold(ids)
            started += self._start_held(failing)
        # Unreachable hosts: one probe each, and none while one is already out.
        room = self.settings.delivery_concurrency - len(self._in_flight)
        probes = await claim_due_deliveries(
            now=self.clock(),
            lease=self.timing.lease,
            limit=room,
            room_for=lambda _host: 1,
            only_hosts={h for h in unreachable if not self._per_host[h] and h not in self._held},
        )
        await self._hold(probes)
        return started + self._start_held(failing)

    def _full_hosts(self, failing: set[str]) -> set[str]:
        """Hosts this worker holds or sends as much for as it may: not claimed for now."""
        return {
            host
            for host in {*self._held, *self._per_host}
            if self._per_host[host] + len(self._held.get(host, ()))
            >= self._cap(host, failing) * HELD_PER_HOST
        }

    def _cap(self, host: str, failing: set[str]) -> int:
        # A host that is failing (or hanging until the timeout) gets one slot, so a few
        # hung servers can never hold every slot while the living wait.
        return 1 if host in failing else self.settings.delivery_per_host

    async def _hold(self, ids: list[int]) -> None:
        """Read the claimed rows, and what their sends need, once for the round."""
        if not ids:
            return
        rows = await Delivery.filter(id__in=ids).order_by("next_attempt_at", "id")
        self._prepared.update(await self._prepare(rows))
        await self.liveness.load_schemes(row.host for row in rows)
        claimed_at = asyncio.get_running_loop().time()
        for row in rows:
            self._held.setdefault(row.host, deque()).append((claimed_at, row))
            self._held_count += 1
            self._held_per_activity[row.activity_id] += 1

    def _start_held(self, failing: set[str]) -> int:
        """Start held rows while there are free slots, oldest claims first per host."""
        started = 0
        now = asyncio.get_running_loop().time()
        for host in list(self._held):
            queue = self._held[host]
            while queue and len(self._in_flight) < self.settings.delivery_concurrency:
                if self._per_host[host] >= self._cap(host, failing):
                    break
                claimed_at, row = queue.popleft()
                self._held_count -= 1
                if now - claimed_at > self.timing.lease / 2:
                    # Held so long its lease may run out while it is sent: let it go back.
                    self._stale.append(row.id)
                    self._unheld(row.activity_id)
                    continue
                self._launch_one(row)
                started += 1
            if not queue:
                del self._held[host]
        if self._stale:
            ids, self._stale = self._stale, []
            task = asyncio.create_task(self._release(ids), name="delivery-release")
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)
        return started

    async def _release(self, ids: list[int]) -> None:
        """Give claimed rows back to the queue at once, instead of when their lease ends."""
        if ids:
            with contextlib.suppress(Exception):
                await Delivery.filter(id__in=ids, state__in=PENDING_STATES).update(
                    claimed_until=None
                )

    async def _give_back(self, host: str) -> None:
        """A host just failed: what is held for it goes back (it will be parked or probed)."""
        queue = self._held.pop(host, None)
        if queue:
            self._held_count -= len(queue)
            for _at, row in queue:
                self._unheld(row.activity_id)
            await self._release([row.id for _at, row in queue])

    async def _liveness_view(self) -> tuple[set[str], set[str]]:
        """(unreachable, failing) hosts, read at most every `LIVENESS_VIEW_AGE` seconds: a
        round starts whenever a send ends, and the view rarely changes between two. A host
        whose state this worker changes is read again at once (`_liveness_changed`)."""
        now = asyncio.get_running_loop().time()
        if self._view is None or now - self._view_at > LIVENESS_VIEW_AGE:
            self._view = (
                await self.liveness.unreachable_hosts(),
                await self.liveness.failing_hosts(),
            )
            self._view_at = now
        return self._view

    def _liveness_changed(self, host: str, *, failed: bool) -> None:
        if self._view is None:
            return
        unreachable, failing = self._view
        if failed != (host in unreachable or host in failing):
            self._view = None

    def _launch_one(self, row: Delivery) -> None:
        task = asyncio.create_task(
            self._attempt_guarded(row, self._prepared_for(row.activity_id)),
            name=f"delivery-{row.host}",
        )
        self._in_flight[task] = (row.id, row.host)
        self._per_host[row.host] += 1
        task.add_done_callback(self._finished)

    def _prepared_for(self, activity_id: int) -> Prepared | None:
        prepared = self._prepared.get(activity_id)
        self._unheld(activity_id)
        return prepared

    def _unheld(self, activity_id: int) -> None:
        """One held row of this activity is gone; its body is dropped with the last."""
        self._held_per_activity[activity_id] -= 1
        if self._held_per_activity[activity_id] <= 0:
            del self._held_per_activity[activity_id]
            self._prepared.pop(activity_id, None)

    def _finished(self, task: asyncio.Task[None]) -> None:
        _delivery_id, host = self._in_flight.pop(task)
        self._slot_freed.set()
        self._per_host[host] -= 1
        if self._per_host[host] <= 0:
            del self._per_host[host]

    async def _seconds_until_next_due(self) -> float:
        now = self.clock()
        upcoming = (
            await Delivery.filter(state__in=PENDING_STATES, next_attempt_at__gt=now)
            .order_by("next_attempt_at")
            .limit(1)
            .values_list("next_attempt_at", flat=True)
        )
        wait = self.timing.poll_interval
        if upcoming:
            wait = min(wait, (upcoming[0] - now).total_seconds())
        return max(wait, 0.01)

    async def _sleep(self, wake: asyncio.Event, seconds: float) -> None:
        """Until new work, a freed slot (also one freed since this round began: sends end
        while a round awaits the database) or `seconds`."""
        waiters = [asyncio.create_task(wake.wait()), asyncio.create_task(self._slot_freed.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _abandon_in_flight(self) -> None:
        """On shutdown: stop sending and hand the claims back at once instead of at lease end."""
        tasks = list(self._in_flight)
        ids = [delivery_id for delivery_id, _host in self._in_flight.values()]
        ids += [row.id for queue in self._held.values() for _at, row in queue]
        self._held.clear()
        self._held_count = 0
        self._held_per_activity.clear()
        self._prepared.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if ids:
            with contextlib.suppress(Exception):
                await Delivery.filter(id__in=ids, state__in=PENDING_STATES).update(
                    claimed_until=None
                )

    # -- one attempt -------------------------------------------------------------------------

    async def _prepare(self, rows: list[Delivery]) -> dict[int, Prepared]:
        """Bodies and signing keys for a round's rows, each read once: a group's key is read
        once per round (so a rotated key is used from the next round on)."""
        bodies = await _sendables({row.activity_id for row in rows})
        keys: dict[tuple[int | None, str | None], tuple[str, str] | None] = {}
        prepared = {}
        for activity_id, (activity, body) in bodies.items():
            # A group's activities share its key; others depend on who says them.
            group_id: int | None = activity.group_id  # type: ignore[attr-defined]
            which = (group_id, None if group_id is not None else activity.actor)
            if which not in keys:
                keys[which] = await self.key_for(activity)
            prepared[activity_id] = Prepared(activity, body, keys[which])
        return prepared

    async def _attempt_guarded(self, claimed: Delivery, prepared: Prepared | None = None) -> None:
        try:
            await self.attempt(claimed, prepared, record_later=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug of ours must not lose the delivery: its lease runs out and it is retried.
            log.exception("delivery %s: attempt crashed", claimed.id)

    async def attempt(
        self,
        claimed: Delivery | int,
        prepared: Prepared | None = None,
        *,
        record_later: bool = False,
    ) -> None:
        """Send one claimed delivery (its row as claimed, or its id) (knocking twice if the
        signature is refused) and record what came of it. `prepared`: what its round read for
        it; without it, it is read now. With `record_later` (the worker's own sends) it returns
        once a success is in, and the success is committed in the background: the slot is
        free for the next send while the commit waits for the disk (the row stays claimed
        until then, so nobody sends it again meanwhile)."""
        delivery = (
            claimed if isinstance(claimed, Delivery) else await Delivery.get_or_none(id=claimed)
        )
        if prepared is None:
            activity_id: int | None = getattr(delivery, "activity_id", None)
            sendable = None if activity_id is None else await _sendable(activity_id)
            if sendable is not None:
                prepared = Prepared(*sendable, await self.key_for(sendable[0]))
        if delivery is None or prepared is None or delivery.state not in PENDING_STATES:
            return  # done meanwhile, or removed with its group
        activity, body = prepared.activity, prepared.body
        delivery.activity = activity
        try:
            check_url(delivery.inbox, allow_private=self.settings.allow_private_network)
        except UnsafeURL as error:
            await self._drop(delivery, None, f"unsafe inbox: {error.reason}")
            return
        policies = await load_policies(self.settings)
        treatment = policies.treatment(host_or_none(delivery.host), activity.group_id)
        if treatment.suspended:
            # Nothing goes to a suspended server, also what was queued before it was.
            await self._drop(delivery, None, f"not delivered: {treatment.why}")
            return
        key = prepared.key
        if key is None:
            await self._drop(delivery, None, "the signing key was retired")
            return
        key_id, private_pem = key
        scheme: Scheme = (
            "rfc9421"
            if await self.liveness.signature_scheme(delivery.host) == "rfc9421"
            else "cavage"
        )
        result = await self._post(delivery.inbox, body, key_id, private_pem, scheme)
        if result.status is not None and is_signature_rejection(result.status, result.answer):
            second = await self._post(
                delivery.inbox, body, key_id, private_pem, _other_scheme(scheme)
            )
            # Keep the first answer only if the other scheme was refused too; a network error
            # on the second knock is a reason to come back, not to give up.
            if second.status is None or not is_signature_rejection(second.status, second.answer):
                scheme, result = _other_scheme(scheme), second
        if (
            record_later
            and result.status is not None
            and classify_status(result.status) is (Outcome.DELIVERED)
        ):
            # Only successes: a failure is recorded before the host's next send, which it
            # may park or turn into a probe.
            task = asyncio.create_task(self._record_outcome(delivery, result, scheme))
            self._recording.add(task)
            task.add_done_callback(self._recording.discard)
            return
        await self._record_outcome(delivery, result, scheme)

    async def _record_outcome(self, delivery: Delivery, result: SendResult, scheme: Scheme) -> None:
        try:
            if result.status is not None and classify_status(result.status) is Outcome.DELIVERED:
                # The common case, recorded with the other sends of its commit in one statement.
                sent = (delivery.id, result.status, delivery.host, scheme)
                await self.writes.write_merged(self._delivered, sent)
                await self._after_delivered(delivery)
                return
            await self.writes.write(lambda: self._record(delivery, result, scheme))
        except Exception:
            # Not recorded: the row's lease runs out and it is sent again (receivers dedupe).
            log.exception("delivery %s: recording its outcome failed", delivery.id)
            raise

    async def _post(
        self, inbox: str, body: bytes, key_id: str, private_pem: str, scheme: Scheme
    ) -> SendResult:
        headers = await sign_request_off_loop(
            "POST",
            inbox,
            {"Content-Type": ACTIVITY_JSON},
            body,
            key_id=key_id,
            private_key=_parsed(private_pem),  # type: ignore[arg-type]
            scheme=scheme,
        )
        try:
            async with self.session.post(
                inbox, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                answer = await _read_some(response)
                return SendResult(
                    status=response.status,
                    answer=answer,
                    retry_after=response.headers.get("Retry-After"),
                )
        except aiohttp.ClientConnectorDNSError as error:
            if isinstance(error.os_error, ForbiddenAddress):
                return SendResult(error=str(error.os_error), unsafe=True)
            return SendResult(error=f"cannot resolve host: {error.os_error}")
        except TimeoutError:
            return SendResult(error="timed out")
        except (aiohttp.ClientError, OSError) as error:
            return SendResult(error=f"{type(error).__name__}: {error}"[:_MAX_ERROR_CHARS])

    # -- recording outcomes ------------------------------------------------------------------

    async def _record(self, delivery: Delivery, result: SendResult, scheme: Scheme) -> None:
        host = delivery.host
        if result.unsafe:
            await self._drop(delivery, None, f"unsafe inbox: {result.error}")
            return
        if result.status is None:
            await self._retry(delivery, None, result.error or "network error", None, host_down=True)
            return
        status = result.status
        outcome = classify_status(status)
        if outcome is Outcome.DELIVERED:
            await self._apply_delivered([(delivery.id, status, host, scheme)])
            await self._after_delivered(delivery)
            return
        alive = host_answered(status)
        if alive:
            refused = is_signature_rejection(status, result.answer)
            await self.liveness.host_answered(host, signature_scheme=None if refused else scheme)
            self._liveness_changed(host, failed=False)
        reason = f"HTTP {status}" + (f": {result.answer.strip()[:200]}" if result.answer else "")
        if outcome is Outcome.DROPPED:
            await self._drop(delivery, status, reason)
            if not alive:
                await self.liveness.host_failed(host)
                self._liveness_changed(host, failed=True)
                await self._give_back(host)
        else:
            await self._retry(delivery, status, reason, result.retry_after, host_down=not alive)

    async def _apply_delivered(self, sent: list[tuple[int, int, str, Scheme]]) -> None:
        """Mark deliveries sent, one UPDATE per answer status (nearly always one), and their
        hosts alive (with the scheme they accepted), in the same commit."""
        now = self.clock()
        by_status: dict[int, list[int]] = {}
        answered: dict[str, str | None] = {}
        for delivery_id, status, host, scheme in sent:
            by_status.setdefault(status, []).append(delivery_id)
            answered[host] = scheme
        for status, ids in by_status.items():
            await Delivery.filter(id__in=ids, state__in=PENDING_STATES).update(
                state=DeliveryState.DELIVERED,
                delivered_at=now,
                attempts=F("attempts") + 1,
                last_status=status,
                last_error=None,
                claimed_until=None,
            )
        await self.liveness.hosts_answered(answered)

    async def _after_delivered(self, delivery: Delivery) -> None:
        self._liveness_changed(delivery.host, failed=False)
        await self._settled(delivery)

    async def _settled(self, delivery: Delivery) -> None:
        if self.on_settled is None:
            return
        try:
            await self.on_settled(delivery.activity)
        except Exception:  # the delivery is recorded; a failing follow-up must not undo it
            log.exception("delivery %s: settling hook failed", delivery.id)

    async def _drop(self, delivery: Delivery, status: int | None, reason: str) -> None:
        log.info("delivery %s to %s dropped: %s", delivery.id, delivery.inbox, reason)
        await Delivery.filter(id=delivery.id, state__in=PENDING_STATES).update(
            state=DeliveryState.DROPPED,
            attempts=F("attempts") + 1,
            last_status=status,
            last_error=reason[:_MAX_ERROR_CHARS],
            claimed_until=None,
        )
        await self._settled(delivery)

    async def _retry(
        self,
        delivery: Delivery,
        status: int | None,
        reason: str,
        retry_after_header: str | None,
        *,
        host_down: bool,
    ) -> None:
        """Schedule the next attempt (or give up); when `host_down`, record the host's failure
        only after that write, so a success to the same host recorded meanwhile makes this
        delivery due again instead of leaving it parked for its whole backoff."""
        now = self.clock()
        when = next_attempt_at(
            self.schedule,
            retry=delivery.attempts,
            now=now,
            created_at=delivery.created_at,
            give_up_after=self.settings.delivery_give_up_after,
            retry_after=parse_retry_after(retry_after_header, now),
        )
        common = {
            "attempts": F("attempts") + 1,
            "last_status": status,
            "last_error": reason[:_MAX_ERROR_CHARS],
            "claimed_until": None,
        }
        mine = Delivery.filter(id=delivery.id, state__in=PENDING_STATES)
        if when is None:
            log.warning(
                "delivery %s to %s failed for good: %s", delivery.id, delivery.inbox, reason
            )
            await mine.update(state=DeliveryState.FAILED, **common)
            await self._settled(delivery)
        else:
            await mine.update(state=DeliveryState.RETRYING, next_attempt_at=when, **common)
        if host_down:
            self._liveness_changed(delivery.host, failed=True)
            await self._give_back(delivery.host)
        if host_down and await self.liveness.host_failed(delivery.host):
            # Park everything we owe this host (this delivery too) until the next probe; the
            # probe, or the host speaking to us, brings it all back.
            probe_at = now + timedelta(seconds=self.timing.probe_interval)
            await Delivery.filter(
                host=delivery.host, state__in=PENDING_STATES, next_attempt_at__lt=probe_at
            ).update(next_attempt_at=probe_at)


async def _read_some(response: aiohttp.ClientResponse) -> str:
    """The start of an answer body, enough to read a refusal; the rest is discarded."""
    chunks: list[bytes] = []
    size = 0
    while size < _MAX_ANSWER_BYTES:
        chunk = await response.content.readany()
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:_MAX_ANSWER_BYTES].decode("utf-8", "replace")


def signing_key_resolver(settings: Settings, instance_key: ServerKey) -> KeyFor:
    """Which key signs an activity's deliveries: its group's (`…/groups/NAME#main-key`, read
    at each send, so a rotated key is used at once), a deleted group's while its Delete goes
    out, or, for server-level activities and what the instance actor says in a group (a
    moderation decision made with the admin CLI), the instance actor's (`…/actor#main-key`):
    receivers check that the key's owner is the activity's actor."""
    instance_actor = instance_actor_url(settings.base_url)
    instance_key_id = instance_actor + "#main-key"
    groups_prefix = settings.url("/groups/")

    async def key_for(activity: Activity) -> tuple[str, str] | None:
        group_id = activity.group_id
        if activity.actor == instance_actor:
            return instance_key_id, instance_key.private_key_pem
        if group_id is None:
            if activity.actor.startswith(groups_prefix):
                return await retired_signing_key(settings, activity.actor)
            return instance_key_id, instance_key.private_key_pem
        name, private_pem = (
            await Group.filter(id=group_id).values_list("name", "private_key_pem")
        )[0]
        return group_urls(settings.base_url, name).key_id, private_pem

    return key_for


def delivery_worker(
    settings: Settings,
    session: aiohttp.ClientSession,
    instance_key: ServerKey,
    *,
    timing: DeliveryTiming | None = None,
) -> DeliveryWorker:
    """The process's delivery worker, wired to our keys and instance liveness.
    Start it with `runtime.start("delivery", worker.run)`."""
    return DeliveryWorker(
        settings=settings,
        session=session,
        key_for=signing_key_resolver(settings, instance_key),
        liveness=InstanceLiveness(settings),
        timing=timing,
        on_settled=lambda activity: delivery_settled(settings, activity),
    )
