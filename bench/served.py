"""fedgroup for a benchmark as an operator runs it: `python -m fedgroup serve` in a child
process, on a SQLite file, configured by FEDGROUP_* only, with the default worker mode.

The benchmark writes its group, members and keys into that SQLite file from its own process
before the server starts (`its_database`), as rows, exactly as the in-process benchmarks do;
then the server owns the file. `peak_rss_mb` reads each server process's high-water mark of
resident memory (VmHWM) while they still run: the web process and, in separate mode, its
worker process; the JSON-LD helper processes are not counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from fedgroup.storage.db import close_database, open_database
from tests.fakes.process import ServerProcess


def server_process(work_dir: Path, **settings: object) -> ServerProcess:
    """A not yet started server under `work_dir`; `settings` as FEDGROUP_* variables,
    none by default: what an operator gets."""
    env = {f"FEDGROUP_{key.upper()}": str(value) for key, value in settings.items()}
    return ServerProcess(work_dir, extra_env=env)


@asynccontextmanager
async def its_database(server: ServerProcess) -> AsyncIterator[None]:
    """The server's SQLite file opened (and created) in this process, to prepare rows;
    closed on exit, before the server is started."""
    if server.running:
        raise RuntimeError("prepare the database before the server starts")
    server.work_dir.mkdir(parents=True, exist_ok=True)
    await open_database(f"sqlite://{server.database_path}")
    try:
        yield
    finally:
        await close_database()


#: Seconds for a started server's worker process to say it runs the queues.
WORKER_START_TIMEOUT = 60.0


async def until_worker_runs(server: ServerProcess) -> None:
    """Return once the server's /healthz says its worker runs the queues (at once in inline
    mode, which reports no worker): a figure must not time Python starting the worker."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WORKER_START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(server.url("/healthz")) as response:
                health = await response.json()
            if health.get("worker", "running") == "running":
                return
            if loop.time() > deadline:
                raise RuntimeError(f"the worker did not start within {WORKER_START_TIMEOUT} s")
            await asyncio.sleep(0.05)


def vm_hwm_mb(pid: int) -> float:
    """A process's peak resident set (VmHWM in /proc/PID/status), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def peak_rss_mb(server: ServerProcess) -> dict[str, float]:
    """Peak RSS of each process of the running server: {"web": MB, "worker": MB}."""
    if server.pid is None:
        raise RuntimeError("the server is not running")
    peaks = {"web": vm_hwm_mb(server.pid)}
    for n, pid in enumerate(server.worker_pids()):
        peaks["worker" if n == 0 else f"worker {n + 1}"] = vm_hwm_mb(pid)
    return peaks


def peak_rss_line(peaks: dict[str, float]) -> str:
    shown = " + ".join(f"{name} {mb:.0f} MB" for name, mb in peaks.items())
    return f"# server peak RSS: {shown} = {sum(peaks.values()):.0f} MB (target <= 150 MB)"
