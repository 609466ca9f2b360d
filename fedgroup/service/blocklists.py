"""Shared block lists in Mastodon's domain-block CSV, read and written.

Admins trade these files (Mastodon exports them from its admin pages; curated lists are
published in the same shape), so a list made anywhere loads here and ours loads there:

    #domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate
    bad.example,suspend,true,true,spam farm,false

Columns are found by the header's names, in any order; a file without a header has them
in this order. As in Mastodon, a missing severity means `suspend`, booleans are
`true`/`false` (empty is false), and `#obfuscate` is read and ignored (we publish no list
of domains to obfuscate). A bad line is reported by its number and the others are kept.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..storage.models import DomainPolicy, Group
from . import modlog
from .domain_policies import PolicyChange, set_policy, severity_named
from .errors import InvalidValue

COLUMNS = ("domain", "severity", "reject_media", "reject_reports", "public_comment", "obfuscate")
HEADER = ",".join("#" + name for name in COLUMNS)

Progress = Callable[[int, int], None]
"""Told (lines done, lines in all) as an import goes on."""


@dataclass(frozen=True)
class BadLine:
    line: int
    error: str


@dataclass
class ImportReport:
    lines: int = 0
    imported: int = 0
    bad: list[BadLine] = field(default_factory=list)


def _flag(value: str, name: str) -> bool:
    text = value.strip().lower()
    if text in ("", "false"):
        return False
    if text == "true":
        return True
    raise InvalidValue(f"{name} must be true or false, not {value!r}")


def _change(cells: dict[str, str]) -> PolicyChange:
    domain = cells.get("domain", "").strip()
    if not domain:
        raise InvalidValue("no domain")
    severity = cells.get("severity", "").strip() or "suspend"
    severity_named(severity)  # refused here, with the line's number, not later
    return PolicyChange(
        domain=domain,
        severity=severity,
        reject_media=_flag(cells.get("reject_media", ""), "#reject_media"),
        reject_reports=_flag(cells.get("reject_reports", ""), "#reject_reports"),
        public_comment=cells.get("public_comment", ""),
    )


def read_blocklist(text: str) -> Iterable[tuple[int, PolicyChange | BadLine]]:
    """Each non-empty line after the header: (its line number, the rule or what is wrong)."""
    columns: tuple[str, ...] = COLUMNS
    reader = csv.reader(io.StringIO(text))
    first = True
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, BadLine(reader.line_num, f"not CSV: {exc}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        if first and row[0].strip().startswith("#"):
            columns = tuple(cell.strip().lstrip("#").lower() for cell in row)
            first = False
            if "domain" not in columns:
                yield reader.line_num, BadLine(reader.line_num, "the header has no #domain")
                return
            continue
        first = False
        if len(row) > len(columns):
            yield (
                reader.line_num,
                BadLine(reader.line_num, f"{len(row)} fields, expected at most {len(columns)}"),
            )
            continue
        try:
            yield reader.line_num, _change(dict(zip(columns, row, strict=False)))
        except InvalidValue as exc:
            yield reader.line_num, BadLine(reader.line_num, str(exc))


async def import_blocklist(
    text: str,
    *,
    group: Group | None = None,
    progress: Progress | None = None,
    by: str = modlog.ADMIN,
) -> ImportReport:
    """Set a rule for every good line (replacing any rule for that domain); bad lines are
    reported, not fatal."""
    entries = list(read_blocklist(text))
    report = ImportReport(lines=len(entries))
    for done, (line, entry) in enumerate(entries, 1):
        if isinstance(entry, BadLine):
            report.bad.append(entry)
        else:
            try:
                await set_policy(entry, group=group, by=by)
                report.imported += 1
            except InvalidValue as exc:
                report.bad.append(BadLine(line, str(exc)))
        if progress is not None:
            progress(done, len(entries))
    return report


def _cell(value: bool) -> str:
    return "true" if value else "false"


def write_blocklist(rows: Iterable[DomainPolicy]) -> str:
    """The rules as Mastodon's CSV (private notes stay here)."""
    out = io.StringIO()
    out.write(HEADER + "\n")
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(
            [
                row.domain,
                str(row.severity),
                _cell(row.reject_media),
                _cell(row.reject_reports),
                row.public_comment,
                _cell(False),
            ]
        )
    return out.getvalue()
