"""The worker process: the queues' background work, away from the process that answers HTTP.

`fedgroup serve` in separate mode (`workers = "separate"`, the default) answers every HTTP
request in its own process (the web process: routes, the inbox's intake and group commit,
the cache-epoch watcher) and runs the inbound worker, the delivery worker and housekeeping in
one worker process it starts and supervises (`WorkerSupervisor`). Handlers, signing and
sending then take neither the web process's event loop nor its GIL, so the inbox answers
promptly while deliveries run. Both processes use the same database; only the worker claims
queue rows, so only it releases the leases of a dead predecessor, when it starts.

The two are joined by a Unix socket pair that the worker inherits. The web process writes
the worker's settings on it first (one JSON line: the exact effective settings, with the
base URL the bound port gave), then one byte per wake-up: `i` when inbound rows were
committed, `d` when deliveries were queued (coalesced: one byte per burst, never waited
for). The workers still poll, so a byte lost (a full buffer, a worker restarting) only costs
a poll interval. When the web process goes away, so does the worker: the kernel kills it
(Linux's parent-death signal), and on any system it stops when its end of the socket reads
end-of-file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import ClientSession

from .activitypub import ldworker
from .activitypub.netguard import make_client_session
from .config import ConfigError, Settings, settings_as_values, settings_from_values
from .lograte import configure_logging
from .pipeline.claims import release_claims_of_dead_predecessor
from .pipeline.delivery import delivery_worker
from .pipeline.inbound import run_inbound_worker
from .pipeline.intake import json_limits, ld_limits
from .runtime import Runtime, cancel_and_wait
from .service.cache_epochs import watch_epochs
from .service.housekeeping import run_housekeeping
from .service.instance import ensure_instance_key, instance_fetcher, user_agent
from .service.outbound import delivery_notifier
from .storage.db import DatabaseUnavailable, close_database, open_database, redact_database_url

log = logging.getLogger(__name__)

WAKE_INBOUND = b"i"
WAKE_DELIVERY = b"d"
#: From the worker: it runs the queues now.
READY = b"r"


@dataclass
class WorkerStatus:
    """What the web process knows of its worker process: whether it has said it runs the
    queues (it says so once started; it is counted out when it dies)."""

    running: bool = False


FIRST_RESTART_DELAY = 1.0  # seconds before restarting a worker that died; doubles …
LAST_RESTART_DELAY = 30.0  # … up to this
HEALTHY_RUN = 60.0  # a worker that ran this long before dying starts again after 1 s
STOP_TIMEOUT = 10.0  # seconds a worker has to finish after SIGTERM, then it is killed
# Below the web process in the CPU's queue: when both want the CPU, the inbox answering
# comes first and deliveries wait a little; when the web process is idle the worker has it
# all. (Measured with bench ingest, see README "Processes".)
WORKER_NICENESS = 10
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
_PR_SET_PDEATHSIG = 1


def start_queue_workers(runtime: Runtime, settings: Settings, session: ClientSession) -> None:
    """The background work behind the queues: run the inbound handlers, send deliveries,
    prune. The same in the one process (inline) and in the worker process (separate)."""
    fetcher = runtime.fetcher
    runtime.start("inbound", lambda: run_inbound_worker(settings, fetcher, runtime.inbound_ready))
    runtime.start("delivery", delivery_worker(settings, session, runtime.instance_key).run)
    runtime.start("housekeeping", lambda: run_housekeeping(settings))


# -- the web process's side ---------------------------------------------------------------


class WorkerSupervisor:
    """Starts the worker process, wakes it, restarts it when it dies, stops it at shutdown.

    A worker that dies (a crash, the OOM killer, SIGKILL) is logged and started again after
    a delay that doubles from 1 s to 30 s while it keeps dying young; nothing is lost
    meanwhile, the queues are in the database."""

    def __init__(
        self,
        settings: Settings,
        inbound_ready: asyncio.Event,
        status: WorkerStatus | None = None,
    ) -> None:
        self.settings = settings
        self.status = status or WorkerStatus()
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._inbound_ready = inbound_ready
        self._channel: socket.socket | None = None
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start the worker; from now on it is kept running until `stop`."""
        await self._spawn()
        deliveries = delivery_notifier.subscribe()
        self._tasks = [
            asyncio.create_task(self._supervise(), name="worker-supervisor"),
            asyncio.create_task(self._forward(self._inbound_ready, WAKE_INBOUND)),
            asyncio.create_task(self._forward(deliveries, WAKE_DELIVERY, deliveries)),
        ]

    async def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:  # noqa: ASYNC109
        """SIGTERM the worker and wait for it; SIGKILL if it takes longer than `timeout`.
        Returns its exit status (None if none was running)."""
        self._stopping = True
        await cancel_and_wait(self._tasks)
        process, self.process = self.process, None
        code = None
        if process is not None:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    code = await asyncio.wait_for(process.wait(), timeout)
                except TimeoutError:
                    log.warning(
                        "worker process %d did not stop in %.0f s; killed", process.pid, timeout
                    )
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    code = await process.wait()
            else:
                code = process.returncode
        self._close_channel()
        return code

    def wake(self, what: bytes) -> None:
        """One byte to the worker, never waiting: a full buffer already holds wake-ups it has
        not read, and a dead worker polls the queues when it starts again."""
        if self._channel is None:
            return
        with contextlib.suppress(OSError):  # BlockingIOError, BrokenPipeError: see above
            self._channel.send(what)

    async def _forward(
        self, event: asyncio.Event, what: bytes, subscription: asyncio.Event | None = None
    ) -> None:
        """Each time `event` is set (however often before we look), wake the worker once."""
        try:
            while True:
                await event.wait()
                event.clear()
                self.wake(what)
        finally:
            if subscription is not None:
                delivery_notifier.unsubscribe(subscription)

    async def _spawn(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            ours.sendall(json.dumps(settings_as_values(self.settings)).encode() + b"\n")
            ours.setblocking(False)
            env = dict(os.environ)
            # The worker imports the very package this process runs, wherever it lies.
            paths = [_PACKAGE_ROOT, env.get("PYTHONPATH")]
            env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-P",  # not the working directory first on sys.path: see PYTHONPATH above
                "-m",
                "fedgroup",
                "worker",
                "--channel-fd",
                str(theirs.fileno()),
                "--parent-pid",
                str(os.getpid()),
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._close_channel()
        self._channel = ours
        self.status.running = False
        asyncio.get_running_loop().add_reader(ours.fileno(), self._heard, ours)
        log.info("started worker process %d", self.process.pid)

    def _heard(self, channel: socket.socket) -> None:
        """The worker says it runs the queues (`READY`); its end closing means it is gone."""
        try:
            data = channel.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if READY in data:
            self.status.running = True
        if not data:
            self.status.running = False
            asyncio.get_running_loop().remove_reader(channel.fileno())

    def _close_channel(self) -> None:
        if self._channel is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._channel.fileno())
            self._channel.close()
            self._channel = None
        self.status.running = False

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        delay = FIRST_RESTART_DELAY
        started_at = loop.time()
        while True:
            process = self.process
            if process is not None:
                code = await process.wait()
                self.status.running = False
                if self._stopping:
                    return
                if loop.time() - started_at >= HEALTHY_RUN:
                    delay = FIRST_RESTART_DELAY
                log.error(
                    "worker process %d %s; starting another in %.0f s",
                    process.pid,
                    _exit_description(code),
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RESTART_DELAY)
            started_at = loop.time()
            try:
                await self._spawn()
                self.restarts += 1
            except OSError as exc:  # out of processes or descriptors: try again later
                self.process = None
                log.error("worker process could not start: %s", exc)


def _exit_description(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


# -- the worker process's side ------------------------------------------------------------


def worker_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedgroup worker",
        description="The worker process of `fedgroup serve` (started by it, not by hand).",
    )
    parser.add_argument("--channel-fd", type=int, required=True, help="inherited socket")
    parser.add_argument("--parent-pid", type=int, required=True, help="the web process")
    return parser


def main(argv: list[str]) -> int:
    """`fedgroup worker`: run the queues until SIGTERM or the web process goes away."""
    args = worker_parser().parse_args(argv)
    channel = socket.socket(fileno=args.channel_fd)
    _die_with_parent()
    if os.getppid() != args.parent_pid:
        return 1  # the web process died before we could ask to die with it
    # Ctrl-C reaches the whole process group: the web process decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        settings = settings_from_values(json.loads(_read_line(channel)))
    except (OSError, EOFError, ValueError, ConfigError) as exc:
        print(f"fedgroup worker: no settings from the web process: {exc}", file=sys.stderr)
        return 1
    configure_logging(settings.log_level, process="worker")
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    return asyncio.run(_work(settings, channel))


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL us when the web process dies: a SIGKILLed server leaves no
    worker writing to its database. Elsewhere the end-of-file on the channel does it."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _read_line(channel: socket.socket) -> bytes:
    """The settings line. Wake-up bytes may follow it in the same read: they are dropped,
    since the workers look at the queues when they start anyway."""
    data = b""
    while b"\n" not in data:
        chunk = channel.recv(65536)
        if not chunk:
            raise EOFError("the channel closed before the settings")
        data += chunk
    return data.split(b"\n", 1)[0]


async def _work(settings: Settings, channel: socket.socket) -> int:
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[str] = loop.create_future()

    def stop_because(why: str) -> None:
        if not stop.done():
            stop.set_result(why)

    loop.add_signal_handler(signal.SIGTERM, stop_because, "SIGTERM")
    try:
        # Its commits need not wait for the disk (see open_database): all of it can be redone,
        # and the web process's commits, which answer 202, flush them with their own.
        await open_database(settings.database_url, durable_commits=False)
    except DatabaseUnavailable as exc:
        log.error("%s", exc)
        return 69
    session = make_client_session(
        allow_private=settings.allow_private_network,
        user_agent=user_agent(settings),
        per_host_limit=settings.delivery_per_host,
    )
    runtime: Runtime | None = None
    try:
        key = await ensure_instance_key()  # made by the web process before it started us
        fetcher = instance_fetcher(settings, session, key, json_limits=json_limits(settings))
        # The only claimer is this process: every lease left is a dead worker's.
        await release_claims_of_dead_predecessor(settings.database_url)
        ldworker.configure(ld_limits(settings))
        ldworker.warm_up(ld_limits(settings))
        runtime = Runtime(instance_key=key, fetcher=fetcher)
        _listen(channel, runtime, stop_because)
        runtime.start("cache-epochs", watch_epochs)
        start_queue_workers(runtime, settings, session)
        with contextlib.suppress(OSError):
            channel.send(READY)  # /healthz of the web process now says "running"
        log.info(
            "worker process %d running the inbound queue, deliveries and housekeeping"
            " (database %s)",
            os.getpid(),
            redact_database_url(settings.database_url),
        )
        why = await stop
        log.info("stopping on %s", why)
    finally:
        loop.remove_reader(channel.fileno())
        if runtime is not None:
            await runtime.stop()
        ldworker.shutdown()
        await session.close()
        await close_database()
        channel.close()
    log.info("stopped")
    return 0


def _listen(channel: socket.socket, runtime: Runtime, stop_because: Callable[[str], None]) -> None:
    """Turn the web process's bytes into wake-ups; its end closing means it is gone."""
    channel.setblocking(False)

    def readable() -> None:
        try:
            data = channel.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(channel.fileno())
            stop_because("the end of the web process")
            return
        if WAKE_INBOUND in data:
            runtime.inbound_ready.set()
        if WAKE_DELIVERY in data:
            delivery_notifier.notify()

    asyncio.get_running_loop().add_reader(channel.fileno(), readable)
