"""When to try a delivery again, and whether to try at all: pure functions of plain values.

A remote server that is briefly down should get the activity minutes later; one that is down
for days should cost us a request every few hours, not a stream of them; and a server that
said "no" (403, 410…) should never be asked again. Jitter keeps thousands of deliveries that
failed together from all coming back in the same second.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum


class Outcome(StrEnum):
    """What an HTTP answer (or its absence) means for a delivery."""

    DELIVERED = "delivered"
    DROPPED = "dropped"
    RETRY = "retry"


# 408 Request Timeout and 429 Too Many Requests say "not now", not "never".
_RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})


def classify_status(status: int) -> Outcome:
    """2xx delivered; 5xx, 408 and 429 retry; any other answer is a refusal we respect.

    3xx counts as a refusal too: inboxes do not redirect POSTs, and following one would send
    a signed body to a URL nobody vetted.
    """
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status >= 500 or status in _RETRYABLE_CLIENT_ERRORS:
        return Outcome.RETRY
    return Outcome.DROPPED


def host_answered(status: int) -> bool:
    """Did an HTTP status show the server alive (for instance liveness)? 5xx does not."""
    return status < 500


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date.

    Unparsable values are ignored (None), dates in the past mean "now" (0).
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text[:12]))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


@dataclass(frozen=True)
class BackoffSchedule:
    """Exponential backoff with jitter: `base * factor**retry`, ±`jitter`, at most `cap`.

    `retry` counts failed attempts before this one, from 0. A `Retry-After` a peer sends
    is honoured (we never come back earlier) but bounded by `max_retry_after`, so a peer
    cannot park a delivery past its give-up time with one header.
    """

    base: float = 30.0
    factor: float = 2.0
    cap: float = 6 * 3600.0
    jitter: float = 0.2
    max_retry_after: float = 6 * 3600.0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.factor < 1 or self.cap < self.base:
            raise ValueError("backoff needs base > 0, factor >= 1 and cap >= base")
        if not 0 <= self.jitter < 1 / 3:
            # Below a third (with factor 2), the shortest wait before retry n+1 still exceeds
            # the longest before retry n, so below the cap the dice never reorder retries.
            raise ValueError("backoff jitter must be in [0, 1/3)")

    def nominal(self, retry: int) -> float:
        """The wait before retry number `retry`, without jitter."""
        retry = max(0, retry)
        # Stop multiplying once past the cap: factor**retry overflows for large retries.
        delay = self.base
        for _ in range(retry):
            delay *= self.factor
            if delay >= self.cap:
                return self.cap
        return min(delay, self.cap)

    def delay(self, retry: int, *, spread: float | None = None) -> float:
        """The wait before retry number `retry`; `spread` in [-1, 1] picks the jitter
        (random when omitted), so tests can fix it."""
        if spread is None:
            spread = random.uniform(-1.0, 1.0)
        spread = max(-1.0, min(1.0, spread))
        return min(self.cap, self.nominal(retry) * (1 + self.jitter * spread))

    def wait(
        self, retry: int, *, retry_after: float | None = None, spread: float | None = None
    ) -> float:
        """The wait before the next attempt: the backoff, or longer if the peer asked."""
        delay = self.delay(retry, spread=spread)
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay


def next_attempt_at(
    schedule: BackoffSchedule,
    *,
    retry: int,
    now: datetime,
    created_at: datetime,
    give_up_after: float,
    retry_after: float | None = None,
    spread: float | None = None,
) -> datetime | None:
    """When to try again after a failed attempt, or None when it is time to give up.

    The last attempt is made at the give-up deadline itself rather than skipped, so a peer
    that comes back just before the deadline still gets what we owed it.
    """
    deadline = created_at + timedelta(seconds=give_up_after)
    if now >= deadline:
        return None
    wait = schedule.wait(retry, retry_after=retry_after, spread=spread)
    return min(now + timedelta(seconds=wait), deadline)
