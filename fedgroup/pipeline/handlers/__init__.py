"""Inbound handlers, one module per activity type; the table below is the whole dispatch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from . import block, collection, create, delete, flag, follow, like, lock, rsvp, undo, update
from .context import Deferred, Ignored, InboundContext

Handler = Callable[[InboundContext], Awaitable[None]]

HANDLERS: dict[str, Handler] = {
    "Follow": follow.handle,
    "Undo": undo.handle,
    "Delete": delete.handle,
    "Create": create.handle,
    "Update": update.handle,
    "Like": like.handle,
    "Dislike": like.handle,
    # A group moderator's actions, as Lemmy sends them.
    "Lock": lock.handle,
    "Add": collection.handle,
    "Remove": collection.handle,
    "Block": block.handle,
    "Flag": flag.handle,
    # Answers to an event in a group (Friendica's attendance, Mobilizon's participation).
    "Accept": rsvp.handle,
    "TentativeAccept": rsvp.handle,
    "Reject": rsvp.handle,
    "Join": rsvp.handle,
    "Leave": rsvp.handle,
}

__all__ = ["HANDLERS", "Deferred", "Handler", "Ignored", "InboundContext"]
