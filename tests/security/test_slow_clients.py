"""Class 7: slow clients, against `fedgroup serve` as a separate process, over real sockets.

Connections that trickle their headers or their body are closed within the timeouts; the
caps on open connections (per remote address, and in all) hold; `/healthz` asked from
another address answers within 100 ms throughout; and the log stays a few lines long
however many connections were closed or requests refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fedgroup.web.connections import LINGERING_TIME
from tests.fakes.process import ServerProcess
from tests.fakes.sender import post_unsigned

from .support import answering_fast_while

# /healthz latency is measured here: run alone (see the `timing` marker).
pytestmark = pytest.mark.timing

HEADER_TIMEOUT = BODY_TIMEOUT = 1.0
PER_ADDRESS, TOTAL = 20, 60
SLACK = 1.5  # seconds beyond a timeout within which the close must have come (a busy CI)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    env = {
        "FEDGROUP_HEADER_TIMEOUT": str(int(HEADER_TIMEOUT)),
        "FEDGROUP_BODY_TIMEOUT": str(int(BODY_TIMEOUT)),
        "FEDGROUP_MAX_CONNECTIONS": str(TOTAL),
        "FEDGROUP_MAX_CONNECTIONS_PER_ADDRESS": str(PER_ADDRESS),
    }
    async with ServerProcess(tmp_path, extra_env=env) as srv:
        yield srv


@dataclass
class Trickled:
    closed_after: float | None  # seconds from connecting to the server closing, None if open
    answer: bytes


async def trickle(
    server: ServerProcess, source: str, head: bytes, *, drip: bytes = b"x", lasting: float = 4.0
) -> Trickled:
    """Connect from `source`, send `head`, then one byte of `drip` every 0.1 s until the
    server closes the connection or `lasting` seconds pass."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(
        server.host, server.port, local_addr=(source, 0)
    )
    answer = b""
    try:
        writer.write(head)
        while time.monotonic() - started < lasting:
            try:
                chunk = await asyncio.wait_for(reader.read(4096), 0.1)
            except TimeoutError:
                writer.write(drip)
                continue
            if not chunk:
                return Trickled(time.monotonic() - started, answer)
            answer += chunk
        return Trickled(None, answer)
    except (ConnectionResetError, BrokenPipeError):
        return Trickled(time.monotonic() - started, answer)
    finally:
        writer.close()


SLOW_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "


def log_lines(server: ServerProcess, needle: str) -> int:
    return sum(needle in line for line in server.log_path.read_text().splitlines())


async def test_trickled_headers_are_closed_and_one_address_gets_its_cap(server):
    results = await answering_fast_while(
        server.url("/healthz"),
        lambda: asyncio.gather(
            *(trickle(server, "127.0.0.2", SLOW_HEADERS) for _ in range(PER_ADDRESS + 15))
        ),
    )
    closed = sorted(r.closed_after for r in results)
    assert None not in closed
    refused = [t for t in closed if t < HEADER_TIMEOUT / 2]  # closed at once: over the cap
    timed_out = [t for t in closed if t >= HEADER_TIMEOUT / 2]
    assert len(refused) == 15 and len(timed_out) == PER_ADDRESS, closed
    assert max(timed_out) < HEADER_TIMEOUT + SLACK, closed
    assert all(r.answer == b"" for r in results)


async def test_a_connection_that_sends_nothing_is_closed(server):
    result = await trickle(server, "127.0.0.3", b"", drip=b"")
    assert result.closed_after is not None
    assert HEADER_TIMEOUT / 2 < result.closed_after < HEADER_TIMEOUT + SLACK


@pytest.mark.parametrize("path", ["/inbox", "/groups/nobody/inbox", "/groups/nobody/join"])
async def test_a_trickled_body_is_a_408_and_closed(server, path):
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/activity+json\r\n"
        "Content-Length: 5000\r\n\r\n{"
    ).encode()
    results = await answering_fast_while(
        server.url("/healthz"),
        lambda: asyncio.gather(*(trickle(server, "127.0.0.4", head) for _ in range(10))),
    )
    for result in results:
        # The answer comes at the timeout; what the client still sends is read (and dropped)
        # for LINGERING_TIME, so that it can read the answer; then the connection closes.
        limit = BODY_TIMEOUT + LINGERING_TIME + SLACK
        assert result.closed_after is not None and result.closed_after < limit
        assert result.answer.startswith(b"HTTP/1.1 408 "), result.answer
        assert b"request body not received in time" in result.answer


async def test_the_total_cap_holds_and_tricklers_make_room_for_real_requests(server):
    """Ten addresses, ten slow connections each, against a cap of sixty: never more than
    sixty are open, and /healthz (a complete request) still gets in at once."""
    sources = [f"127.0.1.{n}" for n in range(1, 11)]

    async def flood() -> tuple[int, list[Trickled]]:
        tasks = [
            asyncio.create_task(trickle(server, source, SLOW_HEADERS, lasting=HEADER_TIMEOUT * 3))
            for source in sources
            for _ in range(10)
        ]
        await asyncio.sleep(HEADER_TIMEOUT / 2)
        still_open = sum(not task.done() for task in tasks)
        return still_open, await asyncio.gather(*tasks)

    still_open, results = await answering_fast_while(server.url("/healthz"), flood)
    assert still_open <= TOTAL, still_open
    assert all(r.closed_after is not None for r in results)
    assert max(r.closed_after for r in results) < HEADER_TIMEOUT + SLACK


async def test_logs_stay_bounded_under_repeated_refusals(server):
    await asyncio.gather(
        *(trickle(server, "127.0.0.5", SLOW_HEADERS) for _ in range(PER_ADDRESS * 3))
    )
    for _ in range(150):
        answer = await post_unsigned(server.url("/inbox"), b'{"not": "an activity"}')
        assert answer.status == 400
    await asyncio.sleep(0.2)  # the child's last lines reach the file
    assert log_lines(server, "too many open from it") <= 11
    assert log_lines(server, "request headers not complete in time") <= 11
    assert log_lines(server, "inbox refused") <= 11
    assert log_lines(server, "like it not logged before") <= 3
    # What is left: start-up, one access line per answered request, a few summaries.
    assert len(server.log_path.read_text().splitlines()) < 150 + 60
