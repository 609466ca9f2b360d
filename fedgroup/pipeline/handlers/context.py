"""What every inbound handler is given, and how it says "nothing to do"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ...activitypub.actor_docs import actor_of
from ...activitypub.signed_fetch import Fetcher
from ...config import Settings
from ...storage.models import Group


class Ignored(Exception):
    """The activity is valid but asks nothing of us (or is not for us); logged, not retried."""


class Deferred(Exception):
    """The activity is valid but waits for something to arrive first (the post it likes):
    the inbound queue keeps it, tries it again when woken or after `retry_after`, and
    drops it (as ignored) once `give_up_after` has passed since it arrived."""

    def __init__(self, reason: str, *, retry_after: timedelta, give_up_after: timedelta) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.give_up_after = give_up_after


@dataclass(frozen=True)
class InboundContext:
    settings: Settings
    fetcher: Fetcher
    activity: dict[str, Any]
    inbox_group: Group | None

    @property
    def actor(self) -> str:
        return actor_of(self.activity) or ""
