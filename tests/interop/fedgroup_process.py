"""Run fedgroup as a real server process, and its admin CLI, the way an operator does.

Why: interop tests must meet fedgroup as Fedify peers meet it in the wild: a separate process
listening on a socket, configured only by FEDGROUP_* environment variables, with the admin
CLI run as another process against the same database (the server owns the database; tests
never open it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from .peer_harness import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_CLI = REPO_ROOT / "admin_cli.py"
_STARTUP_TIMEOUT = 30.0
_CLI_TIMEOUT = 60.0


class FedgroupStartError(RuntimeError):
    """The server exited or never answered /healthz; the message carries its log."""


class AdminCommandError(RuntimeError):
    """An admin CLI command exited non-zero; the message carries its output."""

    def __init__(self, args: list[str], result: CliResult) -> None:
        super().__init__(
            f"admin_cli.py {' '.join(args)} exited {result.returncode}:\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        self.result = result


@dataclass(frozen=True)
class CliResult:
    """What one admin CLI run printed and how it exited."""

    returncode: int
    stdout: str
    stderr: str


class FedgroupProcess:
    """`python -m fedgroup serve` on a loopback port with its own SQLite file; ``async with``.

    Its log (stdout and stderr) goes to ``log_path``; failures quote it, and its path is
    printed so pytest's captured output points at it.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        work_dir: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="fedgroup-interop-"))
        self.base_url = f"http://{host}:{self.port}"
        self.domain = f"{host}:{self.port}"
        self.database_path = self.work_dir / "fedgroup.sqlite3"
        self.log_path = self.work_dir / "fedgroup.log"
        self.env = {
            **os.environ,
            "FEDGROUP_BASE_URL": self.base_url,
            "FEDGROUP_HOST": host,
            "FEDGROUP_PORT": str(self.port),
            "FEDGROUP_DATABASE_URL": f"sqlite://{self.database_path}",
            "FEDGROUP_ALLOW_PRIVATE_NETWORK": "1",
            "FEDGROUP_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self._process: asyncio.subprocess.Process | None = None
        self.exit_code: int | None = None
        self.admin = AdminCli(self.env, self)

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> FedgroupProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Spawn the server and wait until /healthz says the database is up."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        print(f"fedgroup {self.base_url} log: {self.log_path}")
        with self.log_path.open("wb") as log_file:  # the child keeps its own descriptor
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
            await self.stop()
            raise

    async def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while time.monotonic() < deadline:
                if self._process.returncode is not None:
                    raise FedgroupStartError(
                        f"fedgroup exited with {self._process.returncode} "
                        f"(log {self.log_path}):\n{self.log_text()}"
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{self.base_url}/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise FedgroupStartError(
            f"fedgroup did not answer /healthz in {_STARTUP_TIMEOUT}s "
            f"(log {self.log_path}):\n{self.log_text()}"
        )

    async def stop(self) -> None:
        """SIGTERM, as a service manager would; SIGKILL only if it will not go."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise FedgroupStartError(
                    f"fedgroup ignored SIGTERM for 15 s (log {self.log_path})"
                ) from None
        self.exit_code = process.returncode

    def log_text(self) -> str:
        """The server's log so far, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"

    # ------------------------------------------------------------------ URLs
    def group_url(self, name: str) -> str:
        return f"{self.base_url}/groups/{name}"

    def group_handle(self, name: str) -> str:
        return f"{name}@{self.domain}"

    @property
    def shared_inbox_url(self) -> str:
        return f"{self.base_url}/inbox"

    async def get_json(self, path_or_url: str) -> tuple[int, Any]:
        """GET an ActivityPub document from the server, as any remote would, unsigned."""
        url = path_or_url if path_or_url.startswith("http") else self.base_url + path_or_url
        headers = {"Accept": "application/activity+json"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            async with session.get(url, headers=headers) as response:
                text = await response.text()
                try:
                    return response.status, json.loads(text)
                except ValueError:
                    return response.status, text


class AdminCli:
    """`python admin_cli.py …` as a subprocess against the server's database and settings."""

    def __init__(self, env: dict[str, str], server: FedgroupProcess) -> None:
        self._env = env
        self._server = server

    async def run(self, *args: str, check: bool = True) -> CliResult:
        """Run one admin command; a non-zero exit raises with its output unless ``check``."""
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
            stdout, stderr = await asyncio.wait_for(process.communicate(), _CLI_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        result = CliResult(
            process.returncode or 0,
            stdout.decode(errors="replace"),
            stderr.decode(errors="replace"),
        )
        if check and result.returncode != 0:
            raise AdminCommandError(list(args), result)
        return result

    async def create_group(self, name: str, *, approval_required: bool = False) -> CliResult:
        args = ["group", "create", name]
        if approval_required:
            args.append("--approval-required")
        return await self.run(*args)

    async def members_list(self, group: str, *extra: str) -> CliResult:
        return await self.run("members", "list", group, *extra)

    async def members_approve(self, group: str, who: str) -> CliResult:
        return await self.run("members", "approve", group, who)

    async def members_reject(self, group: str, who: str) -> CliResult:
        return await self.run("members", "reject", group, who)

    async def members_remove(self, group: str, who: str) -> CliResult:
        return await self.run("members", "remove", group, who)

    async def ban(self, group: str, who: str, *extra: str) -> CliResult:
        return await self.run("bans", "add", group, who, *extra)
