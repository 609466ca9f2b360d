"""HTTP signatures made off the event loop.

An RSA-2048 signature costs about a millisecond of CPU, and a post to a big group needs one
per member server. Made on the event loop, they stretch every turn of it: each database round
trip of the inbound queue then waits behind a dozen signatures, and a second core stays idle.
OpenSSL releases the GIL while it signs, so a few threads sign in parallel with the loop and
with each other.
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .httpsig import sign_request

#: One thread per core, at most four: signing is pure CPU, more threads only queue.
SIGNING_THREADS = max(1, min(4, os.cpu_count() or 1))

#: Threads start on first use, so a process that never signs has none.
_SIGNING_POOL = ThreadPoolExecutor(SIGNING_THREADS, thread_name_prefix="http-signer")


async def sign_request_off_loop(*args: Any, **kwargs: Any) -> dict[str, str]:
    """`httpsig.sign_request`, run in a signing thread: the same headers, the loop kept free."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        _SIGNING_POOL, functools.partial(sign_request, *args, **kwargs)
    )
