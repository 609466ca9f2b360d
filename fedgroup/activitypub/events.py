"""Events (meet-ups) as Mobilizon, Friendica and Gancio publish them: pure reading.

All three send an `Event` with `startTime` and usually `endTime`; they differ in the rest:
Mobilizon writes UTC times and a `location` Place whose `address` is a schema.org
PostalAddress (and a `timezone`), Gancio writes local times with an offset, an `endTime` that
may be null, and a Place whose `address` is one string; Friendica a Place with a `name`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .vocab import as_list, has_type, http_url, id_of

MAX_EVENT_LENGTH = timedelta(days=366)
_TEXT = 500
# Answers to an Event (FEP-ish practice: Friendica attendance, Mobilizon participation).
RSVP_TYPES = frozenset({"Accept", "TentativeAccept", "Reject", "Join", "Leave"})


@dataclass(frozen=True)
class EventTimes:
    starts_at: datetime
    ends_at: datetime | None


def _zone(doc: dict[str, Any]) -> ZoneInfo | None:
    name = doc.get("timezone")
    if not isinstance(name, str) or not 0 < len(name) < 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _moment(value: Any, zone: ZoneInfo | None) -> datetime | None:
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone or UTC)
    return parsed.astimezone(UTC)


def event_times(doc: dict[str, Any]) -> EventTimes | None:
    """When an Event starts and ends (UTC); None when it is not an Event with a start.
    An end before the start, or absurdly far after it, is dropped rather than believed."""
    if not has_type(doc, "Event"):
        return None
    zone = _zone(doc)
    starts = _moment(doc.get("startTime"), zone)
    if starts is None:
        return None
    ends = _moment(doc.get("endTime"), zone)
    if ends is not None and not starts <= ends <= starts + MAX_EVENT_LENGTH:
        ends = None
    return EventTimes(starts, ends)


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return " ".join(value.split())[:_TEXT]
    return None


def _address_text(address: Any) -> str | None:
    if isinstance(address, str):
        return _text(address)
    if not isinstance(address, dict):
        return None
    parts = [
        _text(address.get(key))
        for key in ("streetAddress", "postalCode", "addressLocality", "addressRegion",
                    "addressCountry")
    ]
    return _text(", ".join(p for p in parts if p))


def location_text(doc: dict[str, Any]) -> str | None:
    """Where an event happens, as one line: the place's name and address (or a URL)."""
    for place in as_list(doc.get("location"))[:3]:
        if isinstance(place, str):
            return _text(place) if not http_url(place) else place
        if not isinstance(place, dict):
            continue
        name, address = _text(place.get("name")), _address_text(place.get("address"))
        if name and address and not address.startswith(name):
            line = f"{name}, {address}"
        else:
            line = address or name
        if line:
            return _text(line)
        url = http_url(id_of(place.get("url")) or place.get("href"))
        if url:
            return url
    return None


def rsvp_target(activity: dict[str, Any]) -> str | None:
    """The Event an RSVP answers (`Accept`/`TentativeAccept`/`Reject`/`Join`/`Leave` of it)."""
    if not any(has_type(activity, kind) for kind in RSVP_TYPES):
        return None
    return id_of(activity.get("object"))
