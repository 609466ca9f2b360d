"""Parsing JSON from strangers with limits on its shape, before anything else looks at it.

A body within the size cap can still be built to hurt: a thousand levels of nesting make
Python's parser (and every recursive walk after it) raise RecursionError, and a hundred
thousand entries in one array make JSON-LD canonicalization take minutes. `parse_json` is
the one parse for inbound activities and fetched documents: it refuses such shapes with a
`JsonShapeError` whose reason fits a 400 answer, so nothing downstream ever sees them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class JsonShapeError(ValueError):
    """Not JSON, or JSON of a shape we refuse; `reason` is one line fit for an answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class JsonLimits:
    """How deep documents may nest and how many members one array or object may hold.

    Real activities nest about 8 levels and hold a few dozen entries per array (see the
    fixtures of real payloads); the defaults leave room for far more.
    """

    max_depth: int = 32
    max_items: int = 1000


DEFAULT_LIMITS = JsonLimits()


def check_shape(value: Any, limits: JsonLimits = DEFAULT_LIMITS) -> None:
    """Raise JsonShapeError if `value` nests deeper or holds more items than `limits` allow.

    Iterative, so the check itself cannot overflow the stack it protects.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limits.max_depth:
            raise JsonShapeError(f"JSON nested deeper than {limits.max_depth} levels")
        if len(node) > limits.max_items:
            kind = "object" if isinstance(node, dict) else "array"
            raise JsonShapeError(f"JSON {kind} with more than {limits.max_items} members")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def parse_json(body: bytes | str, limits: JsonLimits = DEFAULT_LIMITS) -> Any:
    """The JSON value of `body`, or JsonShapeError (invalid, too deep, too wide)."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise JsonShapeError(f"JSON nested deeper than {limits.max_depth} levels") from None
    except (UnicodeDecodeError, ValueError):
        raise JsonShapeError("body is not JSON") from None
    check_shape(value, limits)
    return value
