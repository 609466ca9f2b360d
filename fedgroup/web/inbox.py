"""`POST /inbox` (shared) and `POST /groups/NAME/inbox`: verify, store, answer 202."""

from __future__ import annotations

import logging

from aiohttp import web

from ..app_keys import RUNTIME, SETTINGS
from ..pipeline.intake import InboxRefusal, receive_activity
from ..service.tombstones import tombstone_of
from ..storage.models import Group
from .negotiation import json_error

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


async def _receive(request: web.Request, group: Group | None) -> web.Response:
    settings = request.app[SETTINGS]
    if request.content_length is not None and request.content_length > settings.max_inbox_bytes:
        return json_error(413, "activity too large")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, "activity too large")
    runtime = request.app[RUNTIME]
    try:
        result = await receive_activity(
            runtime.fetcher,
            settings,
            method=request.method,
            url=str(request.url),
            headers=request.headers,
            body=body,
            group_id=group.id if group is not None else None,
            writer=runtime.inbox_writer,
        )
    except InboxRefusal as refusal:
        log.info(
            "inbox refused status=%d reason=%s remote=%s path=%s",
            refusal.status,
            refusal.detail,
            request.remote,
            request.path,
        )
        return json_error(refusal.status, refusal.reason)
    if result.stored:
        runtime.inbound_ready.set()
    return web.json_response(
        {"status": "duplicate" if result.duplicate else "accepted"}, status=202
    )


@routes.post("/inbox")
async def shared_inbox(request: web.Request) -> web.Response:
    return await _receive(request, None)


@routes.post("/groups/{name}/inbox")
async def group_inbox(request: web.Request) -> web.Response:
    name = request.match_info["name"].lower()
    group = await Group.get_or_none(name=name)
    if group is None:
        if await tombstone_of(name) is not None:
            return json_error(410, "this group was deleted")
        return json_error(404, "no such group")
    return await _receive(request, group)


@routes.post("/actor/inbox")
async def instance_inbox(request: web.Request) -> web.Response:
    return await _receive(request, None)
