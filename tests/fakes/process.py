"""fedgroup as a real `fedgroup serve` child process, and its admin CLI, the way an operator
runs them; plus the child-process plumbing every test harness needs.

Why: some claims only mean something against a separate process. Durability ("a crash loses
nothing") needs a server that dies without running a single line of cleanup: an in-process
server (tests/fakes/server.py) always shuts down politely, this one is SIGKILLed and restarted
on the same port and SQLite file, as a service manager would after a crash. Interop tests
(tests/interop/) need fedgroup as Fedify peers meet it in the wild: listening on a socket,
configured only by FEDGROUP_* variables, with the admin CLI run as another process against
the same database.

    async with ServerProcess(tmp_path) as server:
        await server.admin.create_group("jazz")   # or server.admin("group", "create", "jazz")
        await server.kill()        # SIGKILL: no cleanup, leases and sockets left as they were
        rows = server.read_database("SELECT state FROM deliveries")  # safe: nobody writes
        await server.restart()

The log of every run goes to one file (`log_path`), each run headed by a marker line.
`free_port`, `wait_until_answering` and `terminate` are shared with the Fedify peer harness
(tests/interop/peer_harness.py), so each child is started and stopped the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp

from .template_db import fresh_database

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_CLI = REPO_ROOT / "admin_cli.py"
STARTUP_TIMEOUT = 30.0
STOP_GRACE = 15.0
ADMIN_TIMEOUT = 60.0


# -- child-process plumbing ------------------------------------------------------------------


class ChildNotReady(RuntimeError):
    """A child exited, or never answered its readiness URL; callers add their own log."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now on ``host`` (the child binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def wait_until_answering(
    process: asyncio.subprocess.Process,
    url: str,
    *,
    timeout: float = STARTUP_TIMEOUT,  # noqa: ASYNC109 - polls another process; a plain deadline
    session: aiohttp.ClientSession | None = None,
) -> bytes:
    """Poll ``url`` until it answers 200 and return the body.

    Raises ChildNotReady as soon as the child exits (no point waiting out the deadline), or
    when the deadline passes.
    """
    deadline = time.monotonic() + timeout
    async with contextlib.AsyncExitStack() as stack:
        if session is None:
            session = await stack.enter_async_context(
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
            )
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise ChildNotReady(f"exited with {process.returncode}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return await response.read()
            await asyncio.sleep(0.05)
    raise ChildNotReady(f"did not answer {url} within {timeout}s")


async def terminate(process: asyncio.subprocess.Process, *, grace: float = STOP_GRACE) -> int:
    """SIGTERM, as a service manager stops a process; SIGKILL if it lingers past ``grace``.
    Reaps the child and returns its exit status (negative: the signal that ended it)."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(process.wait(), timeout=grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
    return await process.wait()


class ChildProcessContext(ABC):
    """``async with`` for a harness around one child process: start on entry, stop on exit
    (whatever the test raised), so no test leaves a process behind."""

    @abstractmethod
    async def start(self) -> None:
        """Spawn the child and return once it answers."""

    @abstractmethod
    async def stop(self) -> object:
        """End the child and reap it; safe to call when it is not running."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


# -- the admin CLI ---------------------------------------------------------------------------


class ServerProcessError(RuntimeError):
    """The server exited, never became healthy, or was used in the wrong state; the message
    carries the relevant output."""


@dataclass(frozen=True)
class AdminResult:
    """What one admin CLI run printed and how it exited."""

    returncode: int
    stdout: str
    stderr: str


class AdminCommandError(ServerProcessError):
    """An admin CLI command exited non-zero; the message carries its output."""

    def __init__(self, args: tuple[str, ...], result: AdminResult) -> None:
        super().__init__(
            f"admin_cli.py {' '.join(args)} exited {result.returncode}:\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        self.result = result


class AdminCli:
    """`python admin_cli.py …` as a subprocess with the server's settings and database.

    Call it with raw arguments (``await admin("group", "create", "jazz")``) or use the named
    commands below, which read like the operator's runbook.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env

    @classmethod
    def beside(cls, settings: Any) -> AdminCli:
        """The admin CLI of an in-process server (tests/fakes/server.py), by its Settings:
        same database and base URL, none of the developer's FEDGROUP_* variables."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEDGROUP_")}
        env.update(
            FEDGROUP_DATABASE_URL=settings.database_url,
            FEDGROUP_BASE_URL=settings.base_url,
            FEDGROUP_ALLOW_PRIVATE_NETWORK="1" if settings.allow_private_network else "0",
        )
        return cls(env)

    async def __call__(self, *args: str, check: bool = True) -> AdminResult:
        """Run one admin command; a non-zero exit raises AdminCommandError unless ``check``
        is false."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ADMIN_CLI),
            *args,
            cwd=REPO_ROOT,
            env=self._env,
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
        if check and result.returncode != 0:
            raise AdminCommandError(args, result)
        return result

    async def create_group(self, name: str, *, approval_required: bool = False) -> AdminResult:
        args = ["group", "create", name]
        if approval_required:
            args.append("--approval-required")
        return await self(*args)

    async def members_list(self, group: str, *extra: str) -> AdminResult:
        return await self("members", "list", group, *extra)

    async def members_approve(self, group: str, who: str) -> AdminResult:
        return await self("members", "approve", group, who)

    async def members_reject(self, group: str, who: str) -> AdminResult:
        return await self("members", "reject", group, who)

    async def members_remove(self, group: str, who: str) -> AdminResult:
        return await self("members", "remove", group, who)

    async def ban(self, group: str, who: str, *extra: str) -> AdminResult:
        return await self("bans", "add", group, who, *extra)


# -- the server ------------------------------------------------------------------------------


class ServerProcess(ChildProcessContext):
    """`python -m fedgroup serve` on a loopback address with a SQLite file under `work_dir`."""

    def __init__(
        self,
        work_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.work_dir = work_dir
        self.host = host
        self.port = port or free_port(host)
        self.domain = f"{host}:{self.port}"
        self.base_url = f"http://{self.domain}"
        self.database_path = work_dir / "fedgroup.sqlite3"
        self.log_path = work_dir / "fedgroup.log"
        # Only what the test says: a FEDGROUP_* variable in the developer's shell must not
        # leak into the server under test.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("FEDGROUP_")}
        self.env = {
            **inherited,
            "FEDGROUP_BASE_URL": self.base_url,
            "FEDGROUP_HOST": host,
            "FEDGROUP_PORT": str(self.port),
            "FEDGROUP_DATABASE_URL": f"sqlite://{self.database_path}",
            "FEDGROUP_ALLOW_PRIVATE_NETWORK": "1",
            "FEDGROUP_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        if work_dir.is_dir() and self.env["FEDGROUP_DATABASE_URL"] == (
            f"sqlite://{self.database_path}"
        ):
            fresh_database(self.database_path)  # migrated once per test process
        self.admin = AdminCli(self.env)
        self.runs = 0
        self.exit_code: int | None = None  # of the last run, once it has ended
        self._process: asyncio.subprocess.Process | None = None

    # -- addresses ---------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base_url + path

    def group_url(self, name: str) -> str:
        return self.url(f"/groups/{name}")

    def group_handle(self, name: str) -> str:
        """The handle a remote user types to find the group by WebFinger."""
        return f"{name}@{self.domain}"

    @property
    def shared_inbox_url(self) -> str:
        return self.url("/inbox")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        """The `fedgroup serve` process (the web process, in separate mode)."""
        return self._process.pid if self.running and self._process is not None else None

    def worker_pids(self) -> list[int]:
        """The worker processes `fedgroup serve` started (one in separate mode, none inline),
        found as its children whose command line says `fedgroup worker` (Linux /proc)."""
        if self.pid is None:
            return []
        found = []
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    with contextlib.suppress(OSError):
                        argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
                        if b"fedgroup" in argv and b"worker" in argv:
                            found.append(int(child))
        return found

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn the server and return once /healthz answers 200 (database open)."""
        if self.running:
            raise ServerProcessError("already running")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.runs += 1
        self.exit_code = None
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
            await wait_until_answering(self._process, self.url("/healthz"))
        except ChildNotReady as exc:
            await self.kill()
            raise ServerProcessError(
                f"fedgroup {exc} on run {self.runs} (log {self.log_path}):\n{self.log_tail()}"
            ) from None
        except BaseException:
            await self.kill()
            raise

    async def kill(self) -> int | None:
        """SIGKILL and reap: the process gets no chance to release anything.
        Returns its exit status (None if it was not running)."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
        self.exit_code = await process.wait()
        return self.exit_code

    async def restart(self) -> None:
        """Start again on the same port and database (after `kill` or `stop`)."""
        await self.kill()
        await self.start()

    async def stop(self) -> int | None:
        """SIGTERM, as a service manager stops it; SIGKILL if it lingers.
        Returns its exit status (0 for a clean shutdown; None if it was not running)."""
        process, self._process = self._process, None
        if process is None:
            return None
        self.exit_code = await terminate(process)
        return self.exit_code

    # -- the outside view --------------------------------------------------------------------

    async def get_json(self, path_or_url: str) -> tuple[int, Any]:
        """GET an ActivityPub document from the server, as any remote would, unsigned.
        The body is parsed JSON when it is JSON, else the text."""
        url = path_or_url if path_or_url.startswith("http") else self.url(path_or_url)
        headers = {"Accept": "application/activity+json"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            async with session.get(url, headers=headers) as response:
                text = await response.text()
                try:
                    return response.status, json.loads(text)
                except ValueError:
                    return response.status, text

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
        """Everything the server printed, all runs, for failure messages and log assertions."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])
