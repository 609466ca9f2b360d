"""Fixtures that start Fedify peers for interop tests and always stop them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from .peer_harness import FedifyPeer

StartPeer = Callable[..., Awaitable[FedifyPeer]]


@pytest.fixture
async def start_fedify_peer(tmp_path: Path) -> AsyncIterator[StartPeer]:
    """Factory: ``await start_fedify_peer("alice", "127.0.0.2", software="lemmy")``.

    Every peer started through it is stopped after the test; its log path is printed so a
    failing test's captured output points at what Fedify said.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def start(name: str = "alice", host: str = "127.0.0.2", **options: Any) -> FedifyPeer:
            peer = FedifyPeer(name, host, log_dir=tmp_path, **options)
            print(f"fedify peer {peer.handle} log: {peer.log_path}")
            return await stack.enter_async_context(peer)

        yield start
