"""Child process: many remote servers POSTing pre-signed activities to our inbox at once.

Request: `{"requests": [{"url", "headers", "body"}...], "concurrency": 16, "sources": [...]}`.
Each of the `concurrency` clients keeps one keep-alive connection (as a busy remote server
does) and sends the next request as soon as its previous one is answered. With `sources`
(loopback addresses), the clients are spread over them, as the connections of several remote
servers come from several addresses (the server caps connections per address). Answer: one
line with the wall time of the whole burst, its start (epoch seconds), per-request latencies
and the status counts.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import aiohttp

from .child import answer, read_request


async def fire(
    requests: list[dict[str, Any]], concurrency: int, sources: list[str] | None = None
) -> dict[str, Any]:
    pending: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for request in requests:
        pending.put_nowait(request)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    timeout = aiohttp.ClientTimeout(total=60)
    addresses: list[str | None] = list(sources or [None])

    async def client(session: aiohttp.ClientSession) -> None:
        while not pending.empty():
            request = pending.get_nowait()
            body = request["body"].encode()
            t0 = time.perf_counter()
            try:
                async with session.post(
                    request["url"], data=body, headers=request["headers"]
                ) as response:
                    await response.read()
                    statuses[str(response.status)] += 1
            except (aiohttp.ClientError, TimeoutError) as error:
                statuses[type(error).__name__] += 1
            latencies.append(time.perf_counter() - t0)

    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=concurrency, local_addr=(address, 0) if address else None
            ),
            timeout=timeout,
        )
        for address in addresses
    ]
    try:
        started_at = time.time()
        t0 = time.perf_counter()
        await asyncio.gather(*(client(sessions[n % len(sessions)]) for n in range(concurrency)))
        wall = time.perf_counter() - t0
    finally:
        for session in sessions:
            await session.close()
    return {
        "started_at": started_at,
        "wall": wall,
        "latencies": latencies,
        "statuses": dict(statuses),
    }


def main() -> None:
    request = read_request()
    answer(
        asyncio.run(fire(request["requests"], int(request["concurrency"]), request.get("sources")))
    )


if __name__ == "__main__":
    main()
