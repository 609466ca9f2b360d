"""Slow and greedy clients: read timeouts and caps on open connections.

A client that opens thousands of connections and trickles its headers or body a byte at a
time holds a file descriptor each, for ever: at the open-file limit the server stops
accepting anyone. So, for every connection:

- its request headers must be complete within `header_timeout` seconds of its first byte
  (or of the connection, for one that sends nothing), else it is closed;
- a request body must be read within `body_timeout` seconds, else the answer is a 408 and
  the connection is closed (`read_body_within`, a middleware);
- at most `max_per_address` connections are open from one remote address (a trusted proxy,
  which speaks for many, is exempt: it sets its own limits), and at most `max_connections`
  in all. When the total is reached, the oldest connection that has not sent one complete
  request makes room (the one most likely to be a trickler), else the oldest idle kept-alive
  one; when every connection is busy with a request, the newcomer is closed at once.

`ConnectionGuard.wrap` wraps aiohttp's protocol factory, so nothing in aiohttp is patched:
each connection gets a small protocol in front of aiohttp's own, which counts it, watches
the header clock, and hands every byte on.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..config import Settings
from .negotiation import json_error

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 512
    max_per_address: int = 64
    max_body: int = 1_048_576
    exempt: tuple[Network, ...] = ()  # trusted proxies: no per-address cap


class _Connection(asyncio.Protocol):
    """One client connection, in front of aiohttp's protocol for it."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard, self.inner = guard, inner
        self.transport: asyncio.Transport | None = None
        self.address = ""
        self.in_request = False
        self.served = 0  # requests answered on it: a kept-alive connection, not a trickler
        self.started = False  # aiohttp's protocol has the connection
        self.header_clock: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol, handed on to aiohttp ---------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self.guard.admit(self):
            transport.abort()
            return
        self.start_header_clock()
        self.started = True
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.started:
            return  # refused: closing, nothing of it is read
        if not self.in_request and self.header_clock is None:
            self.start_header_clock()  # the first byte of the next request on a kept-alive one
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.started else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_header_clock()
        self.guard.release(self)
        if self.started:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.started:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.started:
            self.inner.resume_writing()

    # -- the header clock --------------------------------------------------------------------

    def start_header_clock(self) -> None:
        self.stop_header_clock()
        loop = asyncio.get_running_loop()
        self.header_clock = loop.call_later(self.guard.limits.header_timeout, self.too_slow)

    def stop_header_clock(self) -> None:
        if self.header_clock is not None:
            self.header_clock.cancel()
            self.header_clock = None

    def too_slow(self) -> None:
        self.header_clock = None
        if not self.in_request and self.transport is not None:
            log.info("closed %s: request headers not complete in time", self.address)
            self.transport.abort()

    def request_started(self) -> None:
        self.in_request = True
        self.stop_header_clock()

    def request_finished(self) -> None:
        self.in_request = False
        self.served += 1


class ConnectionGuard:
    """Counts open connections per remote address and in all; see the module docstring."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._open: dict[asyncio.BaseTransport, _Connection] = {}  # oldest first
        self._per_address: dict[str, int] = {}

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for `loop.create_server` in front of aiohttp's `factory`."""
        return lambda: _Connection(self, factory())

    def _exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.limits.exempt)

    def admit(self, conn: _Connection) -> bool:
        """Count a new connection in, or say it must be closed (over a cap)."""
        address = conn.address
        if (
            self._per_address.get(address, 0) >= self.limits.max_per_address
            and not self._exempt(address)
        ):
            log.info("refused a connection from %s: too many open from it", address)
            return False
        if len(self._open) >= self.limits.max_connections and not self._make_room():
            log.info("refused a connection from %s: too many open connections", address)
            return False
        assert conn.transport is not None
        self._open[conn.transport] = conn
        self._per_address[address] = self._per_address.get(address, 0) + 1
        return True

    def _make_room(self) -> bool:
        """Close the oldest connection that has not sent one complete request yet, else the
        oldest idle kept-alive one (its client opens another when it needs it); False if
        every connection is busy with a request."""
        waiting = [conn for conn in self._open.values() if not conn.in_request]
        victim = next((conn for conn in waiting if not conn.served), None)
        victim = victim or next(iter(waiting), None)
        if victim is None or victim.transport is None:
            return False
        log.info("closed %s to make room: no request in progress on it", victim.address)
        victim.transport.abort()  # connection_lost follows, later: uncount it now
        self.release(victim)
        return True

    def release(self, conn: _Connection) -> None:
        """Count a closed connection out (once, however often it is called)."""
        if conn.transport is None or self._open.pop(conn.transport, None) is None:
            return
        left = self._per_address.get(conn.address, 1) - 1
        if left:
            self._per_address[conn.address] = left
        else:
            self._per_address.pop(conn.address, None)

    def connection_of(self, request: web.Request) -> _Connection | None:
        return self._open.get(request.transport) if request.transport is not None else None

    def middleware(self) -> Any:
        """Marks each request's headers as complete (the header clock stops) and its end,
        and reads its body within `body_timeout` before any handler sees it."""

        @web.middleware
        async def track_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
            conn = self.connection_of(request)
            if conn is not None:
                conn.request_started()
            try:
                refusal = await read_body_within(request, self.limits)
                return refusal or await handler(request)
            finally:
                if conn is not None:
                    conn.request_finished()

        return track_requests


async def read_body_within(request: web.Request, limits: ConnectionLimits) -> web.Response | None:
    """Read the whole body now (handlers then get it from memory), or the refusal to send:
    a 408 when it does not arrive within `body_timeout`, a 413 when it is (or says it is)
    over the size cap. Either closes the connection: the rest of the body is never read."""
    if not request.body_exists:
        return None
    if (request.content_length or 0) > limits.max_body:
        refusal = json_error(413, "request body too large")
        refusal.force_close()
        return refusal
    try:
        async with asyncio.timeout(limits.body_timeout):
            await request.read()
    except TimeoutError:
        log.info("closed %s: request body not received in time", request.remote)
        refusal = json_error(408, "request body not received in time")
    except web.HTTPRequestEntityTooLarge:
        refusal = json_error(413, "request body too large")
    else:
        return None
    refusal.force_close()
    return refusal


async def listen(
    runner: web.AppRunner, sock: socket.socket, guard: ConnectionGuard, *, backlog: int = 128
) -> asyncio.Server:
    """Serve `runner`'s application on a bound socket, every connection through `guard`.

    Close the returned server before `runner.cleanup()` (which closes the connections)."""
    if runner.server is None:
        raise RuntimeError("runner.setup() first")
    loop = asyncio.get_running_loop()
    return await loop.create_server(guard.wrap(runner.server), sock=sock, backlog=backlog)


#: Seconds aiohttp goes on reading (and dropping) the rest of a body it refused, so the
#: client reads our answer before the connection closes; short, or a trickler holds on.
LINGERING_TIME = 1.0


def runner_options(settings: Settings) -> dict[str, Any]:
    """What `web.AppRunner` is given so that idle and refused connections end in time."""
    return {"keepalive_timeout": settings.keepalive_timeout, "lingering_time": LINGERING_TIME}


def limits_from(settings: Settings) -> ConnectionLimits:
    return ConnectionLimits(
        header_timeout=float(settings.header_timeout),
        body_timeout=float(settings.body_timeout),
        max_connections=settings.max_connections,
        max_per_address=settings.max_connections_per_address,
        max_body=settings.max_inbox_bytes,
        exempt=settings.trusted_proxies,
    )
