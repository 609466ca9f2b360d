"""`fedgroup serve` in separate mode (its default): a web process and the worker process it
supervises, as an operator runs them; real processes, sockets and SQLite file.

The web process answers the inbox and wakes the worker, which runs the handler and sends the
Accept; a worker that dies is started again; SIGTERM stops both; a SIGKILLed web process
leaves no worker behind; both use one base URL, even when the port was picked at start-up.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fedgroup.config import load_settings, settings_as_values, settings_from_values
from fedgroup.worker_process import WAKE_DELIVERY, WAKE_INBOUND, _read_line
from tests.fakes import FakeInstance
from tests.fakes.process import REPO_ROOT, ServerProcess, terminate, wait_until_answering
from tests.fakes.sender import post_signed
from tests.fakes.verify import KeyFetchingVerifier

GROUP = "jazz"
# A follow's Accept, once woken: a handler and one signed POST on loopback. Without the
# wake-up the worker finds the row at its next poll: each Follow below is sent as soon as
# the previous Accept arrived, when the inbound worker has just begun its 2 s wait, so it
# would wait most of those 2 s.
WOKEN_WITHIN = 1.0
ACCEPT_WITHIN = 15.0  # for the first Accept after a start (Python starting the worker)


def follow(remote: FakeInstance, actor: str, server: ServerProcess) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": remote.url(f"/follows/{actor}"),
        "type": "Follow",
        "actor": remote.actor_url(actor),
        "object": server.group_url(GROUP),
    }


def is_accept_of(remote: FakeInstance, actor: str):
    follow_id = remote.url(f"/follows/{actor}")

    def match(post: Any) -> bool:
        doc = post.json or {}
        inner = doc.get("object")
        inner_id = inner.get("id") if isinstance(inner, dict) else inner
        return doc.get("type") == "Accept" and inner_id == follow_id

    return match


async def follow_and_wait(
    remote: FakeInstance,
    server: ServerProcess,
    actor: str,
    timeout: float,  # noqa: ASYNC109 - a deadline argument reads best in tests
) -> float:
    """POST a signed Follow; seconds from its 202 to the Accept reaching the remote."""
    remote.add_actor(actor)
    answer = await post_signed(
        remote, server.url("/inbox"), follow(remote, actor, server), actor=actor
    )
    assert answer.status == 202, answer
    accepted_at = time.monotonic()
    await remote.wait_for(is_accept_of(remote, actor), timeout=timeout)
    return time.monotonic() - accepted_at


async def until(condition: Any, timeout: float) -> bool:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return bool(condition())


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
async def remote() -> AsyncIterator[FakeInstance]:
    async with FakeInstance() as instance:
        yield instance


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    async with ServerProcess(tmp_path) as running:
        await running.admin.create_group(GROUP)
        yield running


async def test_the_worker_process_accepts_follows_woken_by_the_web_process(
    server: ServerProcess, remote: FakeInstance
) -> None:
    (worker,) = server.worker_pids()
    assert worker != server.pid
    await follow_and_wait(remote, server, "first", ACCEPT_WITHIN)  # the worker is up now
    took = [await follow_and_wait(remote, server, f"p{n}", ACCEPT_WITHIN) for n in range(8)]
    # Polling alone would leave nearly all of them over WOKEN_WITHIN.
    prompt = [t for t in took if t < WOKEN_WITHIN]
    assert len(prompt) >= 6, f"Accepts took {[round(t, 3) for t in took]} s"
    assert server.worker_pids() == [worker]
    assert f"INFO worker fedgroup.worker_process worker process {worker} running" in (
        server.log_text()
    )


async def test_a_killed_worker_is_restarted_and_follows_are_still_accepted(
    server: ServerProcess, remote: FakeInstance
) -> None:
    await follow_and_wait(remote, server, "before", ACCEPT_WITHIN)
    (worker,) = server.worker_pids()
    os.kill(worker, signal.SIGKILL)
    assert await until(lambda: server.worker_pids() not in ([], [worker]), 15.0), server.log_tail()
    (again,) = server.worker_pids()
    assert again != worker
    await follow_and_wait(remote, server, "after", ACCEPT_WITHIN)
    log = server.log_text()
    assert f"worker process {worker} was killed by SIGKILL; starting another in 1 s" in log
    assert server.running


async def _worker_health(server: ServerProcess) -> str | None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.url("/healthz")) as response,
    ):
        return (await response.json()).get("worker")


async def test_healthz_says_whether_a_worker_runs_the_queues(server: ServerProcess) -> None:
    """An operator's monitor (and a benchmark) can tell a server whose queues are being
    worked from one whose worker is (re)starting."""
    deadline = time.monotonic() + ACCEPT_WITHIN
    while await _worker_health(server) != "running":  # noqa: ASYNC110 - polling over HTTP
        assert time.monotonic() < deadline, server.log_tail()
        await asyncio.sleep(0.05)
    (worker,) = server.worker_pids()
    os.kill(worker, signal.SIGKILL)
    # Dead, then restarted after 1 s: "starting" in between, then "running" again.
    seen = set()
    deadline = time.monotonic() + ACCEPT_WITHIN
    while time.monotonic() < deadline:
        health = await _worker_health(server)
        seen.add(health)
        if health == "running" and server.worker_pids() not in ([], [worker]):
            break
        await asyncio.sleep(0.05)
    assert seen >= {"starting", "running"}, (seen, server.log_tail())


async def test_sigterm_stops_both_processes_with_exit_0(server: ServerProcess) -> None:
    (worker,) = server.worker_pids()
    started = time.monotonic()
    assert await server.stop() == 0, server.log_tail()
    assert time.monotonic() - started < 8.0
    assert not alive(worker), "the worker outlived the web process"
    log = server.log_text()
    assert "INFO worker fedgroup.worker_process stopping on SIGTERM" in log
    assert "Traceback" not in log, log


async def test_a_sigkilled_web_process_leaves_no_worker(server: ServerProcess) -> None:
    (worker,) = server.worker_pids()
    await server.kill()
    assert await until(lambda: not alive(worker), 5.0), "the worker outlived its web process"


async def test_the_worker_uses_the_base_url_the_bound_port_gave(tmp_path: Path) -> None:
    """With port 0 the web process learns its port, hence its base URL, only once bound:
    the worker must sign and address as that URL, not as port 0 or a URL of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDGROUP_")}
    url = f"sqlite://{tmp_path}/fedgroup.sqlite3"
    env.update(FEDGROUP_DATABASE_URL=url, FEDGROUP_ALLOW_PRIVATE_NETWORK="1", FEDGROUP_PORT="0")
    env["PYTHONUNBUFFERED"] = "1"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fedgroup", "serve", cwd=REPO_ROOT, env=env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        serving = re.compile(r"INFO fedgroup serving (http://127\.0\.0\.1:(\d+)) on ")
        assert await until(lambda: serving.search(log_path.read_text()), 30.0), log_path.read_text()
        match = serving.search(log_path.read_text())
        assert match is not None
        base_url, port = match.group(1), int(match.group(2))
        await wait_until_answering(process, f"{base_url}/healthz")
        server = ServerProcess(tmp_path, port=port)  # only to address it; not started
        created = await server.admin("group", "create", GROUP)
        assert created.returncode == 0
        async with FakeInstance() as remote:
            remote.verify = KeyFetchingVerifier()  # the signer's key, fetched at its key id
            remote.add_actor("ann")
            answer = await post_signed(
                remote, f"{base_url}/inbox", follow(remote, "ann", server), actor="ann"
            )
            assert answer.status == 202
            accept = await remote.wait_for(is_accept_of(remote, "ann"), timeout=ACCEPT_WITHIN)
        # Sent by the worker as the group at the bound port's URL, signed with a key id there.
        assert accept.json is not None
        assert accept.json["actor"] == f"{base_url}/groups/{GROUP}"
        assert accept.verified is True
        assert remote.verify.fetches == [f"{base_url}/groups/{GROUP}#main-key"]
    finally:
        assert await terminate(process) == 0, log_path.read_text()


def test_the_settings_line_is_read_when_wake_ups_follow_it_in_the_same_read() -> None:
    """A busy inbox can wake the worker before it has read its settings: both then arrive
    in one read, and the worker must not wait for a line end that already came."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.sendall(json.dumps(settings_as_values(load_settings(environ={}))).encode() + b"\n")
        ours.sendall(WAKE_INBOUND + WAKE_DELIVERY)
        time.sleep(0.05)  # let both land in the buffer before the first read
        theirs.settimeout(5)
        line = _read_line(theirs)
    assert settings_from_values(json.loads(line)) == load_settings(environ={})
