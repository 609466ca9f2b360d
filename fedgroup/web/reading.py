"""The read check of service.access, as an aiohttp answer: 401 or 403 with a JSON reason."""

from __future__ import annotations

import json

from aiohttp import web

from ..app_keys import RUNTIME, SETTINGS
from ..service.access import ReadRefused, check_read
from ..storage.models import Group


async def require_read(
    request: web.Request, group: Group | None, *, public_content: bool = True
) -> None:
    """Raise the HTTP refusal unless this GET may read content of `group`."""
    try:
        await check_read(
            request.app[SETTINGS],
            request.app[RUNTIME].fetcher,
            group,
            url=str(request.url),
            headers=request.headers,
            public_content=public_content,
        )
    except ReadRefused as refused:
        body = json.dumps({"error": refused.reason})
        if refused.status == 401:
            raise web.HTTPUnauthorized(
                text=body,
                content_type="application/json",
                headers={"WWW-Authenticate": "Signature"},
            ) from None
        raise web.HTTPForbidden(text=body, content_type="application/json") from None
