"""The inbox reads domain rules from memory; a change made by the admin CLI, another process,
reaches the running server within `cache_epochs.CHECK_INTERVAL` (one second), and a change
made in the server's own process at once."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from fedgroup.service import bans
from fedgroup.service.cache_epochs import CHECK_INTERVAL, EpochWatcher, bump
from tests.fakes import FakeInstance
from tests.fakes.sender import post_signed
from tests.fakes.server import FedgroupServer
from tests.test_cli_groups import run_subprocess

# The interval, plus what a loaded two-core machine may add before the watcher runs.
STATED = CHECK_INTERVAL + 2.0


@pytest.fixture
async def world(tmp_path: Path):
    async with FedgroupServer(tmp_path) as server, FakeInstance(software="mastodon") as remote:
        await server.create_group("jazz")
        remote.add_actor("alice")
        yield server, remote


def _follow(remote: FakeInstance, group_url: str) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": remote.url(f"/follows/{uuid.uuid4()}"),
        "type": "Follow",
        "actor": remote.actor_url("alice"),
        "object": group_url,
    }


async def _status(server: FedgroupServer, remote: FakeInstance) -> int:
    answer = await post_signed(
        remote, server.url("/inbox"), _follow(remote, server.group_url("jazz"))
    )
    return answer.status


async def _until_status(server: FedgroupServer, remote: FakeInstance, want: int) -> float:
    """Seconds until the inbox answers `want` (polled); fails after STATED seconds."""
    started = time.monotonic()
    while (status := await _status(server, remote)) != want:
        assert time.monotonic() - started < STATED, f"still {status} after {STATED} s"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def _cli_env(server: FedgroupServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDGROUP_")}
    env["FEDGROUP_DATABASE_URL"] = server.settings.database_url
    return env


async def test_a_domain_banned_from_the_cli_is_refused_by_the_running_server(world):
    server, remote = world
    assert await _status(server, remote) == 202  # the rules are now cached in the server
    result = await asyncio.to_thread(
        run_subprocess, _cli_env(server), "bans", "add", "--server", "--domain", remote.address
    )
    assert result.returncode == 0, result.stderr
    await _until_status(server, remote, 403)
    result = await asyncio.to_thread(
        run_subprocess, _cli_env(server), "bans", "remove", "--server", remote.address
    )
    assert result.returncode == 0, result.stderr
    await _until_status(server, remote, 202)


async def test_a_change_in_the_servers_own_process_counts_at_once(world):
    server, remote = world
    assert await _status(server, remote) == 202
    await bans.ban_domain(None, remote.address, "spam")
    assert await _status(server, remote) == 403
    await bans.unban(None, remote.address)
    assert await _status(server, remote) == 202


async def test_the_watcher_clears_only_what_moved(world):
    watcher = EpochWatcher()
    await watcher.check()  # the first look trusts nothing, and remembers
    assert await watcher.check() == []
    await bump("domain_rules")
    assert await watcher.check() == ["domain_rules"]
    assert await watcher.check() == []
