"""The floor of an inbox: the least any ActivityPub inbox must do, as fast as Python does it.

A bare aiohttp handler that parses the JSON once, checks the HTTP signature (digest,
freshness, coverage, with the same parser fedgroup uses) against a key already in memory,
and stores the activity by group commit in a SQLite file (WAL, `synchronous=FULL`, one
transaction for whatever arrived together), answering 202 only after the commit that holds
its row. fedgroup's inbox is compared with this, measured in the same run under the same
load: the machine is shared and its speed moves, a ratio to a floor measured alongside does
not.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from fedgroup.activitypub.httpsig import PublicKey, SignatureError, parse_request_signature


class FloorInbox:
    """`async with FloorInbox(db_path, keys) as floor:` serves POST /inbox on 127.0.0.1."""

    def __init__(self, db_path: Path, keys: dict[str, PublicKey]) -> None:
        self._keys = keys
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS activities (id INTEGER PRIMARY KEY, "
            "ap_id TEXT UNIQUE, actor TEXT, payload TEXT)"
        )
        self._waiting: list[tuple[tuple[str, str, str], asyncio.Future[None]]] = []
        self._ready = asyncio.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._runner: web.AppRunner | None = None
        self._writer: asyncio.Task[None] | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _inbox(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            doc = json.loads(body)
            claim = parse_request_signature(
                request.method,
                str(request.url),
                request.headers,
                has_body=True,
                body=body,
                now=time.time(),
                max_age=3600,
                max_future=3600,
            )
        except (ValueError, SignatureError):
            return web.json_response({"error": "bad request"}, status=400)
        key = self._keys.get(claim.key_id)
        if key is None or not claim.verify(key):
            return web.json_response({"error": "signature"}, status=401)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(((doc["id"], doc["actor"], body.decode()), done))
        self._ready.set()
        await done
        return web.json_response({"status": "accepted"}, status=202)

    def _commit(self, rows: list[tuple[str, str, str]]) -> None:
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT OR IGNORE INTO activities (ap_id, actor, payload) VALUES (?, ?, ?)", rows
        )
        self._db.execute("COMMIT")

    async def _write(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._waiting:
                batch, self._waiting = self._waiting[:256], self._waiting[256:]
                await asyncio.to_thread(self._commit, [row for row, _ in batch])
                for _, done in batch:
                    done.set_result(None)

    async def __aenter__(self) -> FloorInbox:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/inbox", self._inbox)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()
        self._writer = asyncio.create_task(self._write())
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        if self._writer is not None:
            self._writer.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        self._db.close()

    def stored(self) -> int:
        return self._db.execute("SELECT count(*) FROM activities").fetchone()[0]
