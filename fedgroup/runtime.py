"""What a running server holds besides settings: its instance key and its background workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .activitypub.signed_fetch import Fetcher
from .pipeline.group_commit import InboxWriter
from .storage.models import ServerKey

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Process-wide state built at start-up and torn down at shutdown."""

    instance_key: ServerKey
    fetcher: Fetcher
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    inbox_writer: InboxWriter = field(default_factory=InboxWriter)
    inbound_ready: asyncio.Event = field(default_factory=asyncio.Event)
    outbound_ready: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run a background worker until shutdown; a crash is logged, not silent."""

        async def guarded() -> None:
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker %s crashed", name)

        self.tasks.append(asyncio.create_task(guarded(), name=name))

    async def stop(self) -> None:
        await cancel_and_wait(self.tasks)


async def cancel_and_wait(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel background tasks, wait until each has ended, and forget them."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    tasks.clear()
