"""A group's upcoming events as an iCalendar feed (RFC 5545), for calendar applications.

Written here rather than with a library: a feed of events needs only a handful of
properties, and what makes iCalendar hard to get right is three rules, each one function
below: TEXT values escape backslash, semicolon, comma and newline; lines are folded at 75
octets without splitting a UTF-8 character; lines end in CRLF. The tests read the feed with
the `icalendar` package, as calendar applications would.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

import nh3

from ..service.reading import EventView

_FOLD_AT = 75  # octets per line, CRLF excluded (RFC 5545 3.1)
_DESCRIPTION_CHARS = 4000


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): `\\`, `;`, `,` escaped, newlines as `\\n`, no other
    control characters."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = "".join(ch for ch in value if ch == "\n" or ch == "\t" or ord(ch) >= 0x20)
    value = value.replace("\x7f", "")
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    )


def param_text(value: str) -> str:
    """A quoted parameter value (RFC 5545 3.1): no escaping exists there, so double quotes
    and control characters are dropped."""
    return "".join(ch for ch in value if ch != '"' and ord(ch) >= 0x20 and ch != "\x7f")[:200]


def fold(line: str) -> str:
    """One content line folded into lines of at most 75 octets, continuations starting with
    a space, never splitting a character's UTF-8 bytes."""
    out: list[str] = []
    current, size, limit = [], 0, _FOLD_AT
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            out.append("".join(current))
            current, size, limit = [" "], 1, _FOLD_AT
        current.append(ch)
        size += width
    out.append("".join(current))
    return "\r\n".join(out)


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _plain(html_text: str) -> str:
    """The text of sanitized HTML, paragraphs and line breaks kept as newlines."""
    marked = html_text.replace("</p>", "\n\n").replace("<br>", "\n").replace("<br/>", "\n")
    text = html.unescape(nh3.clean(marked, tags=set()))
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return "\n".join(lines).strip()[:_DESCRIPTION_CHARS]


def _line(name: str, value: str) -> str:
    return fold(f"{name}:{value}")


def calendar(
    *, name: str, product: str, events: list[EventView], now: datetime | None = None
) -> bytes:
    """The VCALENDAR document for `events`, UTF-8 with CRLF line ends."""
    stamp = _stamp(now or datetime.now(UTC))
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        _line("PRODID", f"-//{escape_text(product)}//fedgroup//EN"),
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        _line("X-WR-CALNAME", escape_text(name)),
    ]
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            # The event's ActivityPub id is globally unique and stable across edits.
            _line("UID", escape_text(event.ap_id)),
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_stamp(event.starts_at)}",
        ]
        if event.ends_at is not None:
            lines.append(f"DTEND:{_stamp(event.ends_at)}")
        if event.updated is not None:
            lines.append(f"LAST-MODIFIED:{_stamp(event.updated)}")
        lines.append(_line("SUMMARY", escape_text(event.title)))
        description = _plain(event.description_html)
        if description:
            lines.append(_line("DESCRIPTION", escape_text(description)))
        if event.location:
            lines.append(_line("LOCATION", escape_text(event.location)))
        lines.append(_line("URL", event.url))
        organizer = f'ORGANIZER;CN="{param_text(event.organizer.name)}"'
        lines.append(_line(organizer, event.organizer.url))
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
