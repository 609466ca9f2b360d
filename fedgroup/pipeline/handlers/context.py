"""What every inbound handler is given, and how it says "nothing to do"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...activitypub.actor_docs import actor_of
from ...activitypub.signed_fetch import Fetcher
from ...config import Settings
from ...storage.models import Group


class Ignored(Exception):
    """The activity is valid but asks nothing of us (or is not for us); logged, not retried."""


@dataclass(frozen=True)
class InboundContext:
    settings: Settings
    fetcher: Fetcher
    activity: dict[str, Any]
    inbox_group: Group | None

    @property
    def actor(self) -> str:
        return actor_of(self.activity) or ""
