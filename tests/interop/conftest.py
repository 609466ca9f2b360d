"""Fixtures that start Fedify peers and a fedgroup server process, and always stop them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.process import ServerProcess

from .peer_harness import FedifyPeer, of_type, resolve_webfinger

StartPeer = Callable[..., Awaitable[FedifyPeer]]
StartPeers = Callable[..., Awaitable[list[FedifyPeer]]]


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


@pytest.fixture
async def start_fedify_peers(start_fedify_peer: StartPeer) -> StartPeers:
    """Start several peers at once (each makes an RSA-4096 key, ~1 s): a list of
    ``(name, host, options)`` tuples in, the running peers out, in the same order."""

    async def start(*specs: tuple[str, str, dict[str, Any]]) -> list[FedifyPeer]:
        return list(
            await asyncio.gather(
                *(start_fedify_peer(name, host, **options) for name, host, options in specs)
            )
        )

    return start


@pytest.fixture
async def fedgroup(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """A fresh `python -m fedgroup serve` on 127.0.0.1 with its own SQLite file; it must shut
    down cleanly on SIGTERM (exit 0) when the test ends."""
    server = ServerProcess(tmp_path / "fedgroup")
    print(f"fedgroup {server.base_url} log: {server.log_path}")
    async with server:
        yield server
    assert server.exit_code == 0, (
        f"fedgroup did not exit cleanly on SIGTERM ({server.exit_code}):\n{server.log_text()}"
    )


async def join_group(peer: FedifyPeer, server: ServerProcess, group: str) -> str:
    """Discover ``group`` by WebFinger, follow it, and wait for the Accept; the Follow id."""
    group_url = await resolve_webfinger(server.group_handle(group))
    follow_id = await peer.follow(group_url)
    await peer.wait_for_received(of_type("Accept", object_id=follow_id), timeout=15)
    return follow_id


async def assert_nothing_refused(*peers: FedifyPeer) -> None:
    """No peer refused, failed to verify, or warned about anything it got from us."""
    for peer in peers:
        refused = await peer.rejected()
        summary = [
            f"{e.get('kind')} {e.get('category', '')} {str(e.get('message', e))[:300]}"
            for e in refused
        ]
        assert refused == [], f"{peer.handle} refused or warned:\n" + "\n".join(summary)
