"""The instance actor (Application) and the health check."""

from __future__ import annotations

from aiohttp import web

from ..activitypub.actors import instance_actor_document
from ..app_keys import RUNTIME, SETTINGS
from ..storage.models import Activity, ActivityState, Delivery, DeliveryState
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


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Database reachable and queue depths, for monitoring and for the operator's eyes."""
    try:
        inbound = await Activity.filter(inbound=True, state=ActivityState.RECEIVED).count()
        queued = await Delivery.filter(state=DeliveryState.QUEUED).count()
        retrying = await Delivery.filter(state=DeliveryState.RETRYING).count()
    except Exception as exc:  # any database failure makes us unhealthy, whatever its type
        return web.json_response(
            {"status": "error", "database": f"unreachable: {type(exc).__name__}"}, status=503
        )
    return web.json_response(
        {
            "status": "ok",
            "database": "ok",
            "queues": {
                "inbound": inbound,
                "deliveries_queued": queued,
                "deliveries_retrying": retrying,
            },
        }
    )
