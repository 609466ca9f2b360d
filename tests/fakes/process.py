"""fedgroup as a real `fedgroup serve` child process that a test can SIGKILL and restart.

Why: durability claims ("a crash loses nothing") only mean something against a process that
dies without running a single line of cleanup. An in-process server (tests/fakes/server.py)
always shuts down politely; this one is killed by the kernel, and restarted on the same
port and SQLite file, as a service manager would after a crash.

    async with ServerProcess(tmp_path) as server:
        await server.admin("group", "create", "jazz")
        await server.kill()        # SIGKILL: no cleanup, leases and sockets left as they were
        rows = server.read_database("SELECT state FROM deliveries")  # safe: nobody writes
        await server.restart()

The log of every run goes to one file (`log_path`), each run headed by a marker line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_CLI = REPO_ROOT / "admin_cli.py"
STARTUP_TIMEOUT = 30.0
ADMIN_TIMEOUT = 60.0


class ServerProcessError(RuntimeError):
    """The server exited, never became healthy, or an admin command failed; the message
    carries the relevant output."""


@dataclass(frozen=True)
class AdminResult:
    """What one admin CLI run printed and how it exited."""

    returncode: int
    stdout: str
    stderr: str


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the child binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python -m fedgroup serve` on 127.0.0.1 with a SQLite file under `work_dir`."""

    def __init__(
        self,
        work_dir: Path,
        *,
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.work_dir = work_dir
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database_path = work_dir / "fedgroup.sqlite3"
        self.log_path = work_dir / "fedgroup.log"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("FEDGROUP_")}
        self.env = {
            **inherited,
            "FEDGROUP_BASE_URL": self.base_url,
            "FEDGROUP_HOST": "127.0.0.1",
            "FEDGROUP_PORT": str(self.port),
            "FEDGROUP_DATABASE_URL": f"sqlite://{self.database_path}",
            "FEDGROUP_ALLOW_PRIVATE_NETWORK": "1",
            "FEDGROUP_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.runs = 0
        self._process: asyncio.subprocess.Process | None = None

    # -- addresses ---------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base_url + path

    def group_url(self, name: str) -> str:
        return self.url(f"/groups/{name}")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn the server and return once /healthz answers 200 (database open)."""
        if self.running:
            raise ServerProcessError("already running")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.runs += 1
        with self.log_path.open("ab") as log_file:  # the child keeps its own descriptor
            log_file.write(f"===== run {self.runs} ({time.strftime('%H:%M:%S')}) =====\n".encode())
            log_file.flush()
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "fedgroup",
                "serve",
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            await self._wait_healthy()
        except BaseException:
            await self.kill()
            raise

    async def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while time.monotonic() < deadline:
                if self._process.returncode is not None:
                    raise ServerProcessError(
                        f"fedgroup exited with {self._process.returncode} on run {self.runs}:\n"
                        f"{self.log_tail()}"
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(self.url("/healthz")) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise ServerProcessError(
            f"fedgroup did not answer /healthz within {STARTUP_TIMEOUT}s:\n{self.log_tail()}"
        )

    async def kill(self) -> int | None:
        """SIGKILL and reap: the process gets no chance to release anything.
        Returns its exit status (None if it was not running)."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
        return await process.wait()

    async def restart(self) -> None:
        """Start again on the same port and database (after `kill` or `stop`)."""
        await self.kill()
        await self.start()

    async def stop(self) -> None:
        """SIGTERM, as a service manager stops it; SIGKILL if it lingers."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), timeout=15)
        await self.kill()

    async def __aenter__(self) -> ServerProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- the operator's view -----------------------------------------------------------------

    async def admin(self, *args: str) -> AdminResult:
        """Run `python admin_cli.py ARGS` against the same database; non-zero exit raises."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ADMIN_CLI),
            *args,
            cwd=REPO_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), ADMIN_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        result = AdminResult(
            process.returncode or 0,
            stdout.decode(errors="replace"),
            stderr.decode(errors="replace"),
        )
        if result.returncode != 0:
            raise ServerProcessError(
                f"admin_cli.py {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    def read_database(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query on the server's SQLite file. Only while the server is not running:
        the server owns its database, but a dead one cannot be disturbed."""
        if self.running:
            raise ServerProcessError("read the database only while the server is down")
        connection = sqlite3.connect(self.database_path, timeout=5)
        try:
            return connection.execute(sql, parameters).fetchall()
        finally:
            connection.close()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])
