"""Minting ids for what the group publishes: unique, on our origin, fetchable."""

from __future__ import annotations

import uuid

from ..config import Settings


def new_activity_id(settings: Settings) -> str:
    return settings.url(f"/activities/{uuid.uuid4()}")


def new_object_id(settings: Settings) -> str:
    return settings.url(f"/objects/{uuid.uuid4()}")
