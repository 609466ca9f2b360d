"""Child process: many remote servers that only count what reaches their inboxes.

Request: `{"addresses": ["127.0.3.2", ...]}`. One listening socket per address (distinct
hosts, so our per-host delivery limits apply to each as to real servers), all served by one
tiny aiohttp app that answers every POST 202. First answer: `{"ports": {address: port}}`;
then one line per POST received: `{"host", "path", "type", "id", "at"}` (`at` in epoch
seconds, comparable with the parent's clock). Stops when its stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from .child import Child, answer, read_request, start_child


async def _inbox(request: web.Request) -> web.Response:
    if request.method != "POST":
        return web.Response(status=404)
    body = await request.read()
    at = time.time()
    try:
        document = json.loads(body)
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    answer(
        {
            "host": request.host,
            "path": request.path,
            "type": document.get("type"),
            "id": document.get("id"),
            "at": at,
        }
    )
    return web.Response(status=202)


async def serve(addresses: list[str]) -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _inbox)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    ports = {}
    for address in addresses:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, 0))
        ports[address] = sock.getsockname()[1]
        await web.SockSite(runner, sock, backlog=512).start()
    answer({"ports": ports})
    try:
        await asyncio.to_thread(sys.stdin.buffer.read)  # until the parent closes our stdin
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class Arrival:
    """One POST as a receiving server saw it."""

    host: str
    path: str
    type: str | None
    id: str | None
    at: float


class CountingServers:
    """Parent side: `async with CountingServers(addresses) as servers:` starts the child,
    then `servers.port[address]`, `servers.arrivals` and `await servers.wait_until(...)`."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.port: dict[str, int] = {}
        self.arrivals: list[Arrival] = []
        self._changed = asyncio.Condition()
        self._child: Child | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CountingServers:
        self._child = await start_child("receivers", {"addresses": self.addresses}, keep_stdin=True)
        self.port = (await self._child.next_message())["ports"]
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._child is not None:
            await self._child.close()

    async def _read(self) -> None:
        assert self._child is not None
        while True:
            message = await self._child.next_message()
            async with self._changed:
                self.arrivals.append(Arrival(**message))
                self._changed.notify_all()

    async def wait_until(self, done: Callable[[list[Arrival]], bool], within: float) -> bool:
        """True once `done(arrivals)` holds, False if `within` seconds pass first."""
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: done(self.arrivals))
        except TimeoutError:
            return False
        return True


def main() -> None:
    asyncio.run(serve(read_request()["addresses"]))


if __name__ == "__main__":
    main()
