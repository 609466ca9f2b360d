"""Our own activities and the group's own notes, fetchable by their ids."""

from __future__ import annotations

from aiohttp import web

from ..activitypub.addressing import recipients
from ..activitypub.vocab import is_public
from ..app_keys import SETTINGS
from ..storage.models import Activity, Group, StoredObject
from .negotiation import activity_response, json_error
from .reading import require_read

routes = web.RouteTableDef()


async def _require_read(request: web.Request, group_id: int | None, *, public: bool) -> None:
    group = await Group.get(id=group_id) if group_id is not None else None
    await require_read(request, group, public_content=public)


@routes.get("/activities/{token}")
async def activity(request: web.Request) -> web.Response:
    """One of the group's activities (Announce, Accept…): receivers fetch them to verify."""
    row = await Activity.get_or_none(ap_id=request.app[SETTINGS].url(request.path), inbound=False)
    if row is None or row.payload.get("id") != row.ap_id:
        # Forwarded activities (a vote passed to a poll's author) are someone else's.
        return json_error(404, "no such activity")
    # Only what the group published publicly is public (Announces it lists in its outbox,
    # boosts); wrapped non-public posts and answers to one follower are for members.
    public = row.public or is_public(recipients(row.payload))
    await _require_read(request, row.group_id, public=public)
    return activity_response(row.payload)


@routes.get("/objects/{token}")
async def stored_object(request: web.Request) -> web.Response:
    """A note the group itself published (members-only quotes)."""
    url = request.app[SETTINGS].url(request.path)
    row = await StoredObject.get_or_none(ap_id=url)
    if row is None:
        return json_error(404, "no such object")
    public = is_public(recipients(row.document))
    await _require_read(request, row.group_id, public=public)
    if row.deleted:
        return activity_response({"id": url, "type": "Tombstone"}, status=410)
    return activity_response({"@context": "https://www.w3.org/ns/activitystreams", **row.document})
