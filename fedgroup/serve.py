"""`fedgroup serve`: listen, open the database, serve until SIGTERM or Ctrl-C, and say so.

Each step is reported when it is true and a failure names the step that failed: the address
that cannot be listened on, or the database that cannot be opened (password masked), in one
line with its own exit status. "serving" is logged only once the socket is bound and the
database open; a line is logged when a signal starts the shutdown and when it is done.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import logging
import signal
import socket
import sys

from aiohttp import web

from .app import create_app
from .app_keys import CONNECTION_GUARD, RUNTIME, WORKER_STATUS
from .config import WORKERS_SEPARATE, ConfigError, Settings, load_settings
from .lograte import configure_logging
from .storage.db import DatabaseUnavailable, redact_database_url
from .web.connections import listen, runner_options
from .worker_process import WorkerSupervisor

EXIT_OK = 0
EXIT_FAILURE = 1  # could not listen, or start-up failed otherwise
EXIT_UNAVAILABLE = 69  # the database cannot be opened (as the admin CLI)
EXIT_CONFIG = 78  # a setting has an unusable value (as the admin CLI)
SHUTDOWN_TIMEOUT = 10.0  # seconds for requests in flight to finish
LISTEN_BACKLOG = 128

log = logging.getLogger("fedgroup")


def serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedgroup serve", description="Run the group server.")
    parser.add_argument("--config", help="TOML settings file (env vars and flags override it)")
    parser.add_argument("--host", help="address to listen on (FEDGROUP_HOST)")
    parser.add_argument(
        "--port", help="port to listen on (FEDGROUP_PORT); 0 picks a free port and logs it"
    )
    parser.add_argument("--base-url", help="public origin, e.g. https://groups.example")
    parser.add_argument("--database-url", help="sqlite://PATH or postgres://USER@HOST/DB")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument(
        "--workers",
        help="separate (queues in a worker process, the default) or inline (one process)",
    )
    return parser


def serve(argv: list[str]) -> int:
    """`fedgroup serve [flags]`: the exit status."""
    args = serve_parser().parse_args(argv)
    try:
        settings = load_settings(
            config_file=args.config,
            overrides={
                "host": args.host,
                "port": args.port,
                "base_url": args.base_url,
                "database_url": args.database_url,
                "log_level": args.log_level,
                "workers": args.workers,
            },
        )
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}", EXIT_CONFIG)
    return run_server(settings)


def run_server(settings: Settings) -> int:
    configure_logging(settings.log_level)
    return asyncio.run(_serve(settings))


class _StartupFailed(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


async def _serve(settings: Settings) -> int:
    stop = _stop_on_signals()
    # Start-up runs as its own task so SIGTERM can cancel it; tortoise keeps its connections
    # in context variables, so start-up and clean-up share one context, or the clean-up
    # would not see (nor close) the database that start-up opened.
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    starting = loop.create_task(_start(settings), context=context)
    await asyncio.wait({starting, stop}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        # Stopped while starting (a database that does not answer can take a minute to
        # fail): give up the start-up, releasing what it opened, rather than ignore SIGTERM.
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, _StartupFailed):
            await starting
        # A driver cut off mid-handshake (asyncpg) leaves futures nobody will read; asyncio
        # would print each as an error at exit, after the line that says what happened.
        loop.set_exception_handler(
            lambda _loop, ctx: log.debug("left by the abandoned start-up: %s", ctx["message"])
        )
        log.info("stopped on %s during start-up", signal.Signals(stop.result()).name)
        return EXIT_OK
    try:
        runner, listeners, settings, worker = starting.result()
    except _StartupFailed as exc:
        return _fail(str(exc), exc.exit_code)
    log.info(
        "serving %s on %s (database %s)",
        settings.base_url,
        _address(settings.host, settings.port, scheme="http://"),
        redact_database_url(settings.database_url),
    )
    signum = await stop
    log.info("stopping on %s: finishing requests in flight", signal.Signals(signum).name)
    for listener in listeners:
        listener.close()
    await loop.create_task(runner.cleanup(), context=context)
    if worker is not None:
        await worker.stop()
    log.info("stopped")
    return EXIT_OK


def _stop_on_signals() -> asyncio.Future[int]:
    """A future that SIGTERM (a service manager) or SIGINT (Ctrl-C) completes with its number;
    from then on the signals are ours, so the start-up in progress is never torn mid-step."""
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[int] = loop.create_future()

    def received(signum: int) -> None:
        if not stop.done():
            stop.set_result(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, received, signum)
    return stop


async def _start(
    settings: Settings,
) -> tuple[web.AppRunner, list[asyncio.Server], Settings, WorkerSupervisor | None]:
    """Bind, then open the database and start the workers, then accept connections; in
    separate mode, then start the worker process (with the bound port's base URL)."""
    try:
        sockets = bind_sockets(settings.host, settings.port)
    except OSError as exc:
        where = _address(settings.host, settings.port)
        raise _StartupFailed(f"cannot listen on {where}: {_why(exc)}", EXIT_FAILURE) from None
    settings = settings.with_bound_port(sockets[0].getsockname()[1])
    separate = settings.workers == WORKERS_SEPARATE
    app = create_app(settings, queues_here=not separate)
    worker: WorkerSupervisor | None = None
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        **runner_options(settings),
    )
    listeners: list[asyncio.Server] = []
    try:
        await runner.setup()
        for sock in sockets:
            listeners.append(
                await listen(runner, sock, app[CONNECTION_GUARD], backlog=LISTEN_BACKLOG)
            )
        if separate:
            worker = WorkerSupervisor(settings, app[RUNTIME].inbound_ready, app[WORKER_STATUS])
            await worker.start()
    except BaseException as exc:
        for listener in listeners:
            listener.close()
        if worker is not None:
            with contextlib.suppress(Exception):
                await worker.stop()
        with contextlib.suppress(Exception):
            await runner.cleanup()
        for sock in sockets:
            sock.close()
        if isinstance(exc, DatabaseUnavailable):
            raise _StartupFailed(str(exc), EXIT_UNAVAILABLE) from None
        if isinstance(exc, Exception):
            message = f"start-up failed: {type(exc).__name__}: {_why(exc)}"
            raise _StartupFailed(message, EXIT_FAILURE) from None
        raise
    return runner, listeners, settings, worker


def bind_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound TCP sockets for every address `host` names, all on one port (the one the
    system picked, for port 0). Binding before the app is built is what lets a server on
    port 0 know its own base URL."""
    infos = socket.getaddrinfo(
        host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    seen: set[tuple[int, str]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address[0]) in seen:
                continue
            seen.add((family, address[0]))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            bound_port = sockets[0].getsockname()[1] if len(sockets) > 1 else port
            sock.bind((address[0], bound_port, *address[2:]))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _address(host: str, port: int, *, scheme: str = "") -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}{shown}:{port}"


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__


def _fail(message: str, code: int) -> int:
    print(f"fedgroup: {message}", file=sys.stderr, flush=True)
    return code
