"""Class 10: deep JSON, and (with class 3) arrays too long to canonicalize.

One parse with limits at the door: too deep or too wide is a 400 with the reason, never a
500, and nothing is stored or fetched.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fedgroup.activitypub.jsonparse import JsonLimits, JsonShapeError, parse_json
from tests.fakes.sender import post_signed

from .support import NOTHING, note_create, stored_counts


def nested(levels: int, kind: str) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"a": value} if kind == "object" else [value]
    return value


@pytest.mark.parametrize("levels", [40, 1000, 100_000])
@pytest.mark.parametrize("kind", ["object", "array"])
async def test_deep_json_is_a_400(server, remote, levels, kind):
    activity = note_create(remote, server.group_url("jazz"))
    opener, closer = ('{"a":', "}") if kind == "object" else ("[", "]")
    body = json.dumps(activity)[:-1] + ', "extra": ' + opener * levels + '"x"' + closer * levels
    body += "}"
    answer = await post_signed(remote, server.url("/inbox"), body.encode())
    assert answer.status == 400, answer.body
    assert "nested deeper" in answer.body
    assert await stored_counts() == NOTHING
    assert [r for r in remote.requests if r.method == "GET"] == []


@pytest.mark.parametrize(
    ("field", "count"), [("tag", 20_000), ("cc", 5000), ("to", 1001)]
)
async def test_arrays_too_long_are_a_400(server, remote, field, count):
    activity = note_create(remote, server.group_url("jazz"))
    entries = [f"https://x{i}.example/u" for i in range(count)]
    if field == "tag":
        activity["object"]["tag"] = [{"type": "Hashtag", "name": f"#t{i}"} for i in range(count)]
    else:
        activity[field] = entries
    answer = await post_signed(remote, server.url("/inbox"), activity)
    assert answer.status == 400, answer.body
    assert "more than" in answer.body
    assert await stored_counts() == NOTHING


async def test_a_normal_activity_at_the_limits_is_accepted(server, remote):
    activity = note_create(remote, server.group_url("jazz"))
    activity["object"]["tag"] = [{"type": "Hashtag", "name": f"#t{i}"} for i in range(1000)]
    activity["object"]["extra"] = nested(25, "object")
    answer = await post_signed(remote, server.url("/inbox"), activity)
    assert answer.status == 202, answer.body


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 50 + "]" * 50, "nested deeper"),
        ('{"a": [' + ",".join(["1"] * 11) + "]}", "more than 10"),
        ("{" + ",".join(f'"k{i}": 1' for i in range(11)) + "}", "more than 10"),
        ("not json", "not JSON"),
        ("[" * 100_000, "nested deeper"),
    ],
)
def test_parse_json_refuses_each_shape(text, reason):
    with pytest.raises(JsonShapeError, match=reason):
        parse_json(text, JsonLimits(max_depth=32, max_items=10))
