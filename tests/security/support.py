"""Activities and checks shared by the security regression tests."""

from __future__ import annotations

import uuid
from typing import Any

from fedgroup.storage.models import Activity, RemoteActor, RemoteKey, StoredObject
from tests.fakes import FakeInstance

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = AS + "#Public"


def follow(remote: FakeInstance, group_url: str, actor: str = "alice") -> dict[str, Any]:
    return {
        "@context": AS,
        "id": remote.url(f"/activities/{uuid.uuid4()}"),
        "type": "Follow",
        "actor": remote.actor_url(actor),
        "object": group_url,
    }


def note_create(
    remote: FakeInstance, group_url: str, actor: str = "alice", **note: Any
) -> dict[str, Any]:
    note_id = note.pop("id", None) or remote.url(f"/notes/{uuid.uuid4()}")
    obj = {
        "id": note_id,
        "type": "Note",
        "attributedTo": remote.actor_url(actor),
        "content": "<p>hello group</p>",
        "to": [group_url, PUBLIC],
        **note,
    }
    return {
        "@context": AS,
        "id": remote.url(f"/activities/{uuid.uuid4()}"),
        "type": "Create",
        "actor": remote.actor_url(actor),
        "to": [group_url, PUBLIC],
        "object": obj,
    }


async def inbound_ids() -> list[str]:
    return [a.ap_id for a in await Activity.filter(inbound=True).order_by("id")]


async def stored_counts() -> dict[str, int]:
    """How many rows a refused request could have left behind, per table."""
    return {
        "activities": await Activity.all().count(),
        "actors": await RemoteActor.all().count(),
        "keys": await RemoteKey.all().count(),
        "objects": await StoredObject.all().count(),
    }


NOTHING = {"activities": 0, "actors": 0, "keys": 0, "objects": 0}
