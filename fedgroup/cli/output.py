"""What a command prints: one JSON document with --json, readable text otherwise.

Handlers build a `Reply` holding both; printing is done once, in `main`, so every command
gets the same --json behaviour and no handler writes to stdout itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, TextIO


@dataclass(frozen=True)
class Reply:
    """A command's result: `data` for --json (dict or list), `text` for people."""

    data: Any
    text: str


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=_json_default)


def write_reply(reply: Reply, stream: TextIO, *, as_json: bool) -> None:
    text = to_json(reply.data) if as_json else reply.text
    stream.write(text if text.endswith("\n") else text + "\n")
    stream.flush()


def format_fields(rows: Iterable[tuple[str, Any]]) -> str:
    """`label: value` lines with values aligned; multi-line values indented under them."""
    rows = list(rows)
    width = max((len(label) for label, _ in rows), default=0) + 2
    lines = []
    for label, value in rows:
        text = _plain(value)
        first, *rest = text.split("\n") if text else [""]
        lines.append(f"{label + ':':<{width}}{first}".rstrip())
        lines.extend((" " * width + line).rstrip() for line in rest)
    return "\n".join(lines)


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain left-aligned table, for lists people scan by eye."""
    cells = [headers, *[[_plain(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells
    )


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)
