"""Inbound handlers, one module per activity type; the table below is the whole dispatch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from . import create, delete, follow, like, undo, update
from .context import Ignored, InboundContext

Handler = Callable[[InboundContext], Awaitable[None]]

HANDLERS: dict[str, Handler] = {
    "Follow": follow.handle,
    "Undo": undo.handle,
    "Delete": delete.handle,
    "Create": create.handle,
    "Update": update.handle,
    "Like": like.handle,
    "Dislike": like.handle,
}

__all__ = ["HANDLERS", "Handler", "Ignored", "InboundContext"]
