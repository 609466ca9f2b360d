"""Inbound handlers, one module per activity type; the table below is the whole dispatch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from . import delete, follow, undo
from .context import Ignored, InboundContext

Handler = Callable[[InboundContext], Awaitable[None]]

HANDLERS: dict[str, Handler] = {
    "Follow": follow.handle,
    "Undo": undo.handle,
    "Delete": delete.handle,
}

__all__ = ["HANDLERS", "Handler", "Ignored", "InboundContext"]
