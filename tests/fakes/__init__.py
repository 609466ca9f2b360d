"""Reusable fakes for tests: remote fediverse instances and a fixed-table DNS resolver."""

from tests.fakes.dns import StaticResolver
from tests.fakes.instance import (
    FakeInstance,
    ReceivedPost,
    SeenRequest,
    next_loopback_address,
    status_sequence,
)

__all__ = [
    "FakeInstance",
    "ReceivedPost",
    "SeenRequest",
    "StaticResolver",
    "next_loopback_address",
    "status_sequence",
]
