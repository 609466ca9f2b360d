"""Hand-written SQL for the few reads that every post makes.

A query built by the ORM costs a few hundred microseconds of Python before the database sees
it; a post to a group makes a dozen, and at a few hundred posts a second that, not the
database, was the inbound worker's limit. The queries here are plain parameterized SQL, the
same text on SQLite and PostgreSQL (written with `?`, numbered for asyncpg), run on the
connection tortoise gives the current task (so inside `in_transaction()` they see and join its
transaction). Only reads with no dates in them live here: values are compared as the ORM
stores them.
"""

from __future__ import annotations

import re
from typing import Any

from tortoise import connections

_PLACEHOLDER = re.compile(r"\?")
_NUMBERED: dict[str, str] = {}


def _for_postgres(sql: str) -> str:
    numbered = _NUMBERED.get(sql)
    if numbered is None:
        count = iter(range(1, 1 + sql.count("?")))
        numbered = _PLACEHOLDER.sub(lambda _m: f"${next(count)}", sql)
        _NUMBERED[sql] = numbered
    return numbered


async def fetch(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows of one SELECT, as tuples."""
    connection = connections.get("default")
    if connection.capabilities.dialect == "postgres":
        sql = _for_postgres(sql)
    _count, rows = await connection.execute_query(sql, list(params))
    return [tuple(row) for row in rows]


async def exists(sql: str, *params: Any) -> bool:
    """Whether a SELECT finds a row (write it with LIMIT 1)."""
    return bool(await fetch(sql, *params))
