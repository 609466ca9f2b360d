"""Minting ids for what the group publishes: unique, on our origin, fetchable."""

from __future__ import annotations

import uuid

from ..config import Settings


def new_activity_id(settings: Settings) -> str:
    return settings.url(f"/activities/{uuid.uuid4()}")


def derived_id(settings: Settings, kind: str, group_name: str, source: str) -> str:
    """An id that is the same every time the same thing is answered or announced.

    Handlers run at least once; with derived ids, running one again after a crash queues
    the same activity id, which queuing ignores, instead of a second copy under a new id.
    """
    token = uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}|{group_name}|{source}")
    collection = "objects" if kind == "note" else "activities"
    return settings.url(f"/{collection}/{token}")
