"""How a group operation on a member's activity says "not this" or "not yet"."""

from __future__ import annotations


class Refused(Exception):
    """Valid, but not something this group acts on; the reason is recorded and logged."""


class Pending(Exception):
    """Valid, but what it is about (a post it likes) has not arrived yet: ask again later."""
