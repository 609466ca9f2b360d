"""Is a remote server answering? Its liveness, as the delivery worker and the inbox see it.

A server that fails continuously for `settings.unreachable_after` is marked unreachable: the
worker then only sends it one probe now and then instead of every queued delivery. Anything
that proves it alive (a delivery it accepted, or a request it sends to our inbox) clears the
mark and makes what we owe it due at once, so a server back from the dead catches up quickly.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from ..caching import BoundedCache
from ..config import Settings
from ..storage.models import Delivery, DeliveryState, Instance

PENDING_STATES = (DeliveryState.QUEUED, DeliveryState.RETRYING)

#: The hosts currently failing, read at most every few seconds: the inbox asks for every
#: request whether its sender had been failing, and almost never has it. One entry (the set).
#: A host another process marked failing since the last read is cleared on its next request
#: after the TTL, or by the delivery worker's probe.
_FAILING: BoundedCache[str, set[str]] = BoundedCache("failing_hosts", max_entries=1, ttl=5.0)


async def _failing_hosts() -> set[str]:
    hosts = _FAILING.get("all")
    if hosts is None:
        hosts = set(
            await Instance.filter(first_failure_at__isnull=False).values_list("host", flat=True)
        )
        _FAILING.put("all", hosts)
    return hosts


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _instance(host: str) -> Instance:
    instance = await Instance.get_or_none(host=host)
    if instance is not None:
        return instance
    try:
        return await Instance.create(host=host)
    except IntegrityError:  # another worker made it between our read and our write
        return await Instance.get(host=host)


# Answers that say "the server is down", not "this activity upset it".
_HOST_DOWN_STATUSES = (502, 503, 504)


async def make_host_due(
    host: str, *, now: datetime | None = None, only_host_failures: bool = False
) -> int:
    """Make pending deliveries to `host` due now; returns how many were waiting.

    With `only_host_failures`, only those never tried or last failed because the host was
    down (no answer, 502-504): one that keeps getting a 500 keeps its own backoff, or every
    success to its host would retry it at once and its backoff would mean nothing.
    """
    now = now or utc_now()
    query = Delivery.filter(host=host, state__in=PENDING_STATES, next_attempt_at__gt=now)
    if only_host_failures:
        query = query.filter(Q(last_status__isnull=True) | Q(last_status__in=_HOST_DOWN_STATUSES))
    return await query.update(next_attempt_at=now)


async def mark_alive(host: str, *, now: datetime | None = None) -> bool:
    """`host` just spoke to us: forget its failures and send what we owe it now.

    Free when nothing was wrong (the failing hosts are known in memory, see `_FAILING`), so
    the inbox may call it for every request. Returns True when the host had been failing.
    """
    failing = await _failing_hosts()
    if host not in failing:
        return False
    failing.discard(host)
    now = now or utc_now()
    cleared = await Instance.filter(host=host, first_failure_at__isnull=False).update(
        first_failure_at=None, unreachable_since=None
    )
    if cleared:
        await make_host_due(host, now=now, only_host_failures=True)
    return bool(cleared)


async def record_answer(
    host: str, *, signature_scheme: str | None = None, now: datetime | None = None
) -> None:
    """`host` answered a delivery with a non-5xx status (it is alive); when
    `signature_scheme` is given, that scheme's signature was accepted: use it next time."""
    await record_answers({host: signature_scheme}, now=now)


async def record_answers(answers: dict[str, str | None], *, now: datetime | None = None) -> None:
    """What `record_answer` does, for many hosts at once (host -> accepted scheme or None):
    a few statements in all, not a few per host, for a post reaching a thousand servers."""
    failing = await _failing_hosts()
    todo = {
        host: scheme
        for host, scheme in answers.items()
        if host in failing or _ANSWERED.get(host) != (scheme,)
    }
    if not todo:
        return
    now = now or utc_now()
    known = dict(await Instance.filter(host__in=list(todo)).values_list("host", "first_failure_at"))
    missing = [host for host in todo if host not in known]
    if missing:
        await Instance.bulk_create([Instance(host=host) for host in missing], ignore_conflicts=True)
    by_scheme: dict[str | None, list[str]] = {}
    for host, scheme in todo.items():
        by_scheme.setdefault(scheme, []).append(host)
    for scheme, hosts in by_scheme.items():
        changes: dict[str, object] = {
            "last_success_at": now,
            "first_failure_at": None,
            "unreachable_since": None,
        }
        if scheme is not None:
            changes["signature_scheme"] = scheme
        await Instance.filter(host__in=hosts).update(**changes)
        for host in hosts:
            if scheme is not None:
                _SCHEMES.put(host, (scheme,))
            failing.discard(host)
            _ANSWERED.put(host, (scheme,))
    for host in todo:
        if known.get(host) is not None:  # it was failing: what waited for it is due now
            await make_host_due(host, now=now, only_host_failures=True)


async def load_signature_schemes(hosts: Iterable[str]) -> None:
    """Read the schemes of the hosts not in memory in one query (a round to many new
    servers would otherwise read each on its own)."""
    unknown = [host for host in set(hosts) if _SCHEMES.get(host) is None]
    if not unknown:
        return
    found = dict(await Instance.filter(host__in=unknown).values_list("host", "signature_scheme"))
    for host in unknown:
        _SCHEMES.put(host, (found.get(host),))


#: Hosts whose last answer was recorded less than a minute ago, with the signature scheme
#: recorded: a busy healthy host's answers cost no write each (`last_success_at` is then at
#: most a minute old).
_ANSWERED: BoundedCache[str, tuple[str | None]] = BoundedCache(
    "answered_hosts", max_entries=10_000, ttl=60.0
)


async def record_failure(
    host: str, *, unreachable_after: float, now: datetime | None = None
) -> bool:
    """`host` did not answer (or answered 5xx). Returns True when it is now unreachable:
    it has failed continuously for `unreachable_after` seconds."""
    now = now or utc_now()
    instance = await _instance(host)
    await Instance.filter(id=instance.id, first_failure_at__isnull=True).update(
        first_failure_at=now
    )
    (await _failing_hosts()).add(host)
    await Instance.filter(
        id=instance.id,
        unreachable_since__isnull=True,
        first_failure_at__lte=now - timedelta(seconds=unreachable_after),
    ).update(unreachable_since=now)
    await instance.refresh_from_db(fields=["unreachable_since"])
    return instance.unreachable_since is not None


async def unreachable_hosts() -> set[str]:
    """Hosts currently marked unreachable."""
    hosts = await Instance.filter(unreachable_since__isnull=False).values_list("host", flat=True)
    return set(hosts)


#: The signature scheme each host last accepted, so a delivery does not read it: it only
#: decides which scheme is tried first (the other follows a refusal), so a scheme another
#: process learned may be seen here up to the TTL later.
_SCHEMES: BoundedCache[str, tuple[str | None]] = BoundedCache(
    "signature_schemes", max_entries=10_000, ttl=300.0
)


async def signature_scheme(host: str) -> str | None:
    """The signature scheme `host` last accepted, if we learned one."""
    known = _SCHEMES.get(host)
    if known is None:
        scheme = await Instance.filter(host=host).values_list("signature_scheme", flat=True)
        known = (scheme[0] if scheme else None,)
        _SCHEMES.put(host, known)
    return known[0]


class InstanceLiveness:
    """The delivery worker's view of instance liveness, bound to the settings it needs."""

    def __init__(self, settings: Settings) -> None:
        self._unreachable_after = settings.unreachable_after

    async def unreachable_hosts(self) -> set[str]:
        return await unreachable_hosts()

    async def failing_hosts(self) -> set[str]:
        hosts = await Instance.filter(
            first_failure_at__isnull=False, unreachable_since__isnull=True
        ).values_list("host", flat=True)
        return set(hosts)

    async def signature_scheme(self, host: str) -> str | None:
        return await signature_scheme(host)

    async def host_answered(self, host: str, *, signature_scheme: str | None) -> None:
        await record_answer(host, signature_scheme=signature_scheme)

    async def hosts_answered(self, answers: dict[str, str | None]) -> None:
        await record_answers(answers)

    async def load_schemes(self, hosts: Iterable[str]) -> None:
        await load_signature_schemes(hosts)

    async def host_failed(self, host: str) -> bool:
        return await record_failure(host, unreachable_after=self._unreachable_after)


async def learn_scheme_from_inbound(host: str, scheme: str) -> None:
    """A peer signed to us with RFC 9421, so it speaks it: sign to it that way too, unless
    a delivery already taught us what it accepts."""
    if scheme != "rfc9421" or _SPEAKS_RFC9421.get(host):
        return
    await _instance(host)
    await Instance.filter(host=host, signature_scheme__isnull=True).update(signature_scheme=scheme)
    _SPEAKS_RFC9421.put(host, True)
    _SCHEMES.discard(host)  # read again: a delivery's answer may have taught us otherwise


#: Hosts already recorded as signing with RFC 9421, so each of their requests costs nothing.
_SPEAKS_RFC9421: BoundedCache[str, bool] = BoundedCache(
    "rfc9421_hosts", max_entries=10_000, ttl=3600.0
)
