"""Request middlewares: believe proxies only when trusted, and log one line per request."""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..app_keys import SETTINGS

access_log = logging.getLogger("fedgroup.access")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_trusted(remote: str | None, request: web.Request) -> bool:
    proxies = request.app[SETTINGS].trusted_proxies
    if not remote or not proxies:
        return False
    try:
        addr = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(addr in net for net in proxies)


@web.middleware
async def forwarded_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply X-Forwarded-Proto/Host/For from a trusted reverse proxy.

    Signature checks must see the public host and scheme the sender signed, and logs and
    limits must see the real client. Headers from anyone else are ignored: a client must not
    be able to choose the host its signature is checked against.
    """
    if _is_trusted(request.remote, request):
        changes: dict[str, str] = {}
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
        host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
        client = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        if proto in {"http", "https"}:
            changes["scheme"] = proto
        if host:
            changes["host"] = host
        if client:
            changes["remote"] = client
        if changes:
            request = request.clone(**changes)
    return await handler(request)


@web.middleware
async def access_logging(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One structured line per request: method, path, status, milliseconds, client."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        access_log.info(
            "request method=%s path=%s status=%d ms=%.1f remote=%s",
            request.method,
            request.path,
            status,
            elapsed_ms,
            request.remote,
        )
