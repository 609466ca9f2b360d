"""Typed keys for what the aiohttp application shares with its handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from .config import Settings

if TYPE_CHECKING:
    from .runtime import Runtime
    from .service.joining import FollowRouter
    from .web.connections import ConnectionGuard
    from .worker_process import WorkerStatus

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
HTTP_CLIENT: web.AppKey[aiohttp.ClientSession] = web.AppKey("http_client", aiohttp.ClientSession)
RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime")
FOLLOW_ROUTER: web.AppKey[FollowRouter] = web.AppKey("follow_router")
CONNECTION_GUARD: web.AppKey[ConnectionGuard] = web.AppKey("connection_guard")
#: Whether this process runs the queue workers (inbound, delivery, housekeeping): false in
#: the web process of `fedgroup serve` in separate mode, whose worker process runs them.
QUEUES_HERE: web.AppKey[bool] = web.AppKey("queues_here", bool)


#: Present only in the web process of separate mode (`/healthz` shows it).
WORKER_STATUS: web.AppKey[WorkerStatus] = web.AppKey("worker_status")
