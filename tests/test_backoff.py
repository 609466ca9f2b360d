"""The delivery schedule: what a remote server sees as the pace of our retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedgroup.activitypub.backoff import (
    BackoffSchedule,
    Outcome,
    classify_status,
    host_answered,
    next_attempt_at,
    parse_retry_after,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DEFAULT = BackoffSchedule()
retries = st.integers(min_value=0, max_value=10_000)
spreads = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_delivered(status: int) -> None:
    assert classify_status(status) is Outcome.DELIVERED


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_server_errors_timeouts_and_rate_limits_are_retried(status: int) -> None:
    assert classify_status(status) is Outcome.RETRY


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 413, 422, 301, 302])
def test_other_answers_are_refusals_we_respect(status: int) -> None:
    assert classify_status(status) is Outcome.DROPPED


def test_a_5xx_does_not_prove_the_host_alive_but_a_4xx_does() -> None:
    assert not host_answered(503)
    assert host_answered(410)
    assert host_answered(202)


def test_first_retry_waits_about_thirty_seconds_and_doubles() -> None:
    assert DEFAULT.delay(0, spread=0) == 30
    assert DEFAULT.delay(1, spread=0) == 60
    assert DEFAULT.delay(3, spread=0) == 240
    assert 24 <= DEFAULT.delay(0) <= 36


def test_the_wait_is_capped_at_six_hours_even_for_huge_retry_counts() -> None:
    assert DEFAULT.delay(20, spread=1) == 6 * 3600
    assert DEFAULT.delay(10**9, spread=0) == 6 * 3600


@given(retries, spreads)
def test_every_wait_is_positive_and_bounded(retry: int, spread: float) -> None:
    wait = DEFAULT.delay(retry, spread=spread)
    nominal = DEFAULT.nominal(retry)
    assert 0 < wait <= DEFAULT.cap
    assert nominal * (1 - DEFAULT.jitter) <= wait <= nominal * (1 + DEFAULT.jitter)


@given(retries, spreads)
def test_later_retries_never_wait_less_for_the_same_dice(retry: int, spread: float) -> None:
    assert DEFAULT.delay(retry + 1, spread=spread) >= DEFAULT.delay(retry, spread=spread)


@given(st.integers(min_value=0, max_value=8), spreads, spreads)
def test_below_the_cap_no_jitter_reorders_retries(retry: int, a: float, b: float) -> None:
    assert DEFAULT.delay(retry + 1, spread=a) > DEFAULT.delay(retry, spread=b)


def test_schedules_that_could_reorder_retries_are_refused() -> None:
    with pytest.raises(ValueError):
        BackoffSchedule(jitter=0.5)
    with pytest.raises(ValueError):
        BackoffSchedule(base=10, cap=5)


def test_retry_after_in_seconds_and_as_http_date() -> None:
    assert parse_retry_after("120", NOW) == 120
    later = format_datetime(NOW + timedelta(minutes=5), usegmt=True)
    assert parse_retry_after(later, NOW) == 300
    earlier = format_datetime(NOW - timedelta(minutes=5), usegmt=True)
    assert parse_retry_after(earlier, NOW) == 0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_retry_after_is_honoured_but_bounded() -> None:
    assert DEFAULT.wait(0, retry_after=600, spread=0) == 600
    assert DEFAULT.wait(5, retry_after=1, spread=0) == 960  # never sooner than our backoff
    assert DEFAULT.wait(0, retry_after=10**9, spread=0) == DEFAULT.max_retry_after


@given(retries, st.floats(min_value=0, max_value=1e12, allow_nan=False), spreads)
def test_no_retry_after_parks_a_delivery_beyond_the_bound(
    retry: int, retry_after: float, spread: float
) -> None:
    assert DEFAULT.wait(retry, retry_after=retry_after, spread=spread) <= max(
        DEFAULT.cap, DEFAULT.max_retry_after
    )


def test_next_attempt_follows_the_schedule() -> None:
    when = next_attempt_at(
        DEFAULT, retry=1, now=NOW, created_at=NOW, give_up_after=7 * 86400, spread=0
    )
    assert when == NOW + timedelta(seconds=60)


def test_last_attempt_is_made_at_the_deadline_then_we_give_up() -> None:
    created = NOW - timedelta(days=7) + timedelta(seconds=10)
    when = next_attempt_at(
        DEFAULT, retry=12, now=NOW, created_at=created, give_up_after=7 * 86400, spread=0
    )
    assert when == created + timedelta(days=7)
    assert (
        next_attempt_at(
            DEFAULT, retry=13, now=when, created_at=created, give_up_after=7 * 86400, spread=0
        )
        is None
    )
