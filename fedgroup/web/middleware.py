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


_NON_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


def security_headers(
    page_csp: str,
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Headers every response carries: no MIME sniffing, no referrer to other sites, and a
    Content-Security-Policy (the pages' own for HTML, "nothing at all" for everything else,
    so a JSON document or an image opened in a browser can never run anything)."""

    def apply(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        if request.path.startswith("/static/"):
            headers.setdefault("Cache-Control", "public, max-age=86400")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        is_page = response.content_type == "text/html"
        headers.setdefault("Content-Security-Policy", page_csp if is_page else _NON_PAGE_CSP)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            apply(request, exc)
            raise
        apply(request, response)
        return response

    return middleware
