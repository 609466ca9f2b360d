"""Posts and comments stored for groups."""

from __future__ import annotations

from ..storage.models import StoredObject


async def remove_content_of(actor_url: str) -> int:
    """Everything an actor posted, removed (their account is gone)."""
    return await StoredObject.filter(attributed_to=actor_url).delete()
