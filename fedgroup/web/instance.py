"""The instance actor (Application) and the health check."""

from __future__ import annotations

from aiohttp import web
from tortoise import connections

from ..activitypub.actors import instance_actor_document
from ..app_keys import RUNTIME, SETTINGS, WORKER_STATUS
from ..storage.models import ActivityState, DeliveryState
from .negotiation import activity_response

routes = web.RouteTableDef()


@routes.get("/actor")
async def instance_actor(request: web.Request) -> web.Response:
    """Readable without a signature: authorized-fetch servers fetch it to check our GETs."""
    settings = request.app[SETTINGS]
    key = request.app[RUNTIME].instance_key
    return activity_response(
        instance_actor_document(settings.base_url, settings.domain, key.public_key_pem)
    )


async def _queue_depths() -> tuple[int, int, int]:
    """Inbound rows waiting, deliveries queued and retrying, in one round trip: monitoring
    asks often, and on a busy machine each trip to the database thread costs a wait."""
    received, queued, retrying = (
        ActivityState.RECEIVED.value,
        DeliveryState.QUEUED.value,
        DeliveryState.RETRYING.value,
    )
    sql = (
        f"SELECT (SELECT count(*) FROM activities WHERE inbound AND state = '{received}'),"
        f" (SELECT count(*) FROM deliveries WHERE state = '{queued}'),"
        f" (SELECT count(*) FROM deliveries WHERE state = '{retrying}')"
    )
    _, rows = await connections.get("default").execute_query(sql)
    inbound, queued, retrying = (int(value) for value in tuple(rows[0]))
    return inbound, queued, retrying


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Database reachable and queue depths, for monitoring and for the operator's eyes."""
    try:
        inbound, queued, retrying = await _queue_depths()
    except Exception as exc:  # any database failure makes us unhealthy, whatever its type
        return web.json_response(
            {"status": "error", "database": f"unreachable: {type(exc).__name__}"}, status=503
        )
    health: dict[str, object] = {
        "status": "ok",
        "database": "ok",
        "queues": {
            "inbound": inbound,
            "deliveries_queued": queued,
            "deliveries_retrying": retrying,
        },
    }
    worker = request.app.get(WORKER_STATUS)
    if worker is not None:  # separate mode: is anyone working the queues?
        health["worker"] = "running" if worker.running else "starting"
    return web.json_response(health)
