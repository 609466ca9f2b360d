"""The instance actor, the health check, the trusted-proxy middleware and the access log."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fedgroup.app import create_app
from fedgroup.config import load_settings
from fedgroup.storage.models import Activity, Delivery, DeliveryState, ServerKey
from tests.fakes.template_db import fresh_database

BASE = "https://groups.example"
AS_JSON = "application/activity+json"
ACCESS_LINE = re.compile(
    r"^request method=(?P<method>[A-Z]+) path=(?P<path>\S+) status=(?P<status>\d{3}) "
    r"ms=(?P<ms>\d+\.\d) remote=(?P<remote>\S+)$"
)

Serve = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def serve(tmp_path: Path, aiohttp_server: Any) -> AsyncIterator[Serve]:
    """Start the real app on 127.0.0.1 with extra settings.

    tortoise keeps its connections in a ContextVar, so each server is closed in a copy of the
    context that started it; closed from elsewhere, its SQLite thread outlives the loop.
    """
    servers: list[tuple[TestServer, contextvars.Context]] = []

    async def start(probe: bool = False, **env: str) -> TestServer:
        environ = {
            "FEDGROUP_BASE_URL": BASE,
            "FEDGROUP_DATABASE_URL": f"sqlite://{fresh_database(tmp_path / 'db.sqlite3')}",
            **env,
        }
        app = create_app(load_settings(environ=environ))
        if probe:
            app.router.add_get("/_probe", _probe)
        server = await aiohttp_server(app, host="127.0.0.1")
        servers.append((server, contextvars.copy_context()))
        return server

    yield start
    for server, context in servers:
        await asyncio.create_task(server.close(), context=context)


async def _probe(request: web.Request) -> web.Response:
    """Test-only route: echoes what handlers believe about scheme, host and client address.

    No production route reflects the request's scheme or host (URLs come from base_url), so
    the middleware is observed through this route added to the app under test.
    """
    return web.json_response(
        {"scheme": request.scheme, "host": request.host, "remote": request.remote}
    )


async def fetch(
    server: TestServer, path: str, *, source: str = "127.0.0.1", **headers: str
) -> tuple[int, Any]:
    """GET from a chosen loopback source address, as a proxy or a direct client would."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(server.make_url(path), headers=headers) as resp:
            return resp.status, json.loads(await resp.text())


# --- instance actor and health -------------------------------------------------------------


async def test_instance_actor_is_an_application_with_a_key(serve: Serve) -> None:
    server = await serve()
    status, doc = await fetch(server, "/actor", Accept=AS_JSON)
    assert status == 200
    assert doc["id"] == f"{BASE}/actor"
    assert doc["type"] == "Application"
    assert doc["preferredUsername"] == "groups.example"
    assert doc["inbox"].startswith(BASE)
    key = doc["publicKey"]
    assert key["id"] == f"{BASE}/actor#main-key"
    assert key["owner"] == f"{BASE}/actor"
    loaded = serialization.load_pem_public_key(key["publicKeyPem"].encode())
    assert isinstance(loaded, rsa.RSAPublicKey)


async def test_instance_key_survives_restart(serve: Serve) -> None:
    first = await serve()
    _, doc1 = await fetch(first, "/actor")
    await first.close()
    second = await serve()
    _, doc2 = await fetch(second, "/actor")
    assert doc1["publicKey"]["publicKeyPem"] == doc2["publicKey"]["publicKeyPem"]
    assert await ServerKey.all().count() == 1


async def test_healthz_reports_queue_depths(serve: Serve) -> None:
    server = await serve()
    status, doc = await fetch(server, "/healthz")
    assert status == 200
    assert doc == {
        "status": "ok",
        "database": "ok",
        "queues": {"inbound": 0, "deliveries_queued": 0, "deliveries_retrying": 0},
    }
    inbound = await Activity.create(
        ap_id="https://social.example/a/1", type="Follow", actor="https://social.example/u",
        inbound=True, payload={},
    )
    for state in (DeliveryState.QUEUED, DeliveryState.QUEUED, DeliveryState.RETRYING):
        await Delivery.create(
            activity=inbound, inbox=f"https://x.example/{state}/{datetime.now(UTC).timestamp()}",
            host="x.example", state=state, next_attempt_at=datetime.now(UTC),
        )
    _, doc = await fetch(server, "/healthz")
    assert doc["queues"] == {"inbound": 1, "deliveries_queued": 2, "deliveries_retrying": 1}


# --- trusted proxies -----------------------------------------------------------------------

FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "groups.example",
    "X-Forwarded-For": "203.0.113.9, 10.0.0.1",
}


async def test_forwarded_headers_honoured_from_trusted_proxy(serve: Serve) -> None:
    server = await serve(probe=True, FEDGROUP_TRUSTED_PROXIES="127.0.0.1")
    status, seen = await fetch(server, "/_probe", **FORWARDED)
    assert status == 200
    assert seen == {"scheme": "https", "host": "groups.example", "remote": "203.0.113.9"}


async def test_forwarded_headers_ignored_from_other_address(serve: Serve) -> None:
    server = await serve(probe=True, FEDGROUP_TRUSTED_PROXIES="127.0.0.1")
    _, seen = await fetch(server, "/_probe", source="127.0.0.2", **FORWARDED)
    assert seen["scheme"] == "http"
    assert seen["host"] == f"127.0.0.1:{server.port}"
    assert seen["remote"] == "127.0.0.2"


async def test_forwarded_headers_ignored_without_trusted_proxies(serve: Serve) -> None:
    server = await serve(probe=True)
    _, seen = await fetch(server, "/_probe", **FORWARDED)
    assert seen == {"scheme": "http", "host": f"127.0.0.1:{server.port}", "remote": "127.0.0.1"}


async def test_trusted_proxy_network_range(serve: Serve) -> None:
    server = await serve(probe=True, FEDGROUP_TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.0/30")
    _, seen = await fetch(server, "/_probe", source="127.0.0.2", **FORWARDED)
    assert seen["remote"] == "203.0.113.9"
    _, seen = await fetch(server, "/_probe", source="127.0.0.5", **FORWARDED)
    assert seen["remote"] == "127.0.0.5"


# --- access log ----------------------------------------------------------------------------


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[re.Match[str]]:
    lines = [r.getMessage() for r in caplog.records if r.name == "fedgroup.access"]
    matches = [ACCESS_LINE.match(line) for line in lines]
    assert all(matches), lines
    return [m for m in matches if m]


async def test_access_log_one_line_per_request(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fedgroup.access")
    server = await serve()
    await fetch(server, "/healthz")
    await fetch(server, "/groups/nosuch", Accept=AS_JSON)
    await fetch(server, "/.well-known/webfinger")
    lines = _access_lines(caplog)
    assert [(m["method"], m["path"], m["status"], m["remote"]) for m in lines] == [
        ("GET", "/healthz", "200", "127.0.0.1"),
        ("GET", "/groups/nosuch", "404", "127.0.0.1"),
        ("GET", "/.well-known/webfinger", "400", "127.0.0.1"),
    ]


async def test_access_log_names_real_client_behind_trusted_proxy(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fedgroup.access")
    server = await serve(FEDGROUP_TRUSTED_PROXIES="127.0.0.1")
    await fetch(server, "/healthz", **FORWARDED)
    await fetch(server, "/healthz", source="127.0.0.2", **FORWARDED)
    assert [m["remote"] for m in _access_lines(caplog)] == ["203.0.113.9", "127.0.0.2"]
