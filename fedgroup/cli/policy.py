"""`policy …`: how this server treats other servers (Mastodon's domain blocks), server-wide
or in one group, and the allow list for allow-list mode; shared block lists in and out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from fedgroup.cli.commands import CommandContext, CommandError, CommandRegistry
from fedgroup.cli.output import Reply, format_table
from fedgroup.service import blocklists, domain_policies, groups
from fedgroup.service.domain_policies import PolicyChange
from fedgroup.storage.models import DomainAllow, DomainPolicy, Group

DOMAIN_HELP = (
    "bad.example, a pasted URL (https://bad.example/) or *.bad.example (the same rule: a "
    "rule always covers the domain's subdomains)"
)
#: Files with at least this many lines get a progress bar (on a terminal).
PROGRESS_FROM = 100
MAX_BAD_LINES_SHOWN = 20


def register(cli: CommandRegistry) -> None:
    noun = cli.noun(
        "policy", help="domain policies (suspend, silence, reject media/reports) and allow list"
    )
    listing = noun.verb("list", list_command, help="every rule, and the allow list")
    listing.add_argument("--group", metavar="NAME", help="only the rules of this group")
    put = noun.verb(
        "set", set_command, help="set (or replace) the rule for a domain and its subdomains"
    )
    put.add_argument("domain", help=DOMAIN_HELP)
    put.add_argument(
        "--severity",
        required=True,
        metavar="noop|silence|suspend",
        help="suspend: refuse everything, remove its members, deliver nothing; silence "
        "(or limit): joining needs approval, posts are held for a moderator; noop: only "
        "the flags",
    )
    put.add_argument("--reject-media", action="store_true", help="drop attachments from its posts")
    put.add_argument("--reject-reports", action="store_true", help="drop its reports (Flags)")
    put.add_argument(
        "--group", metavar="NAME", help="in this group only (wins over the server's rule there)"
    )
    put.add_argument("--comment", default="", help="public comment (exported with the rule)")
    put.add_argument("--note", default="", help="private note, for admins only")
    clear = noun.verb("clear", clear_command, help="remove the rule for a domain")
    clear.add_argument("domain", help=DOMAIN_HELP)
    clear.add_argument("--group", metavar="NAME", help="the rule of this group")
    allow = noun.verb(
        "allow", allow_command, help="put a domain on the allow list (for allowlist_mode)"
    )
    allow.add_argument("domain", help=DOMAIN_HELP)
    allow.add_argument("--comment", default="", help="why it is allowed")
    disallow = noun.verb("disallow", disallow_command, help="take a domain off the allow list")
    disallow.add_argument("domain", help=DOMAIN_HELP)
    load = noun.verb(
        "import",
        import_command,
        help="load a Mastodon domain-block CSV (rules for listed domains are replaced)",
    )
    load.add_argument("file", help="CSV: #domain,#severity,#reject_media,#reject_reports,…")
    load.add_argument("--group", metavar="NAME", help="as rules of this group")
    noun.verb(
        "export", export_command, help="print the server-wide rules as a Mastodon domain-block CSV"
    )


def policy_document(row: DomainPolicy) -> dict[str, Any]:
    return {
        "domain": row.domain,
        "group": row.group.name if row.group is not None else None,
        "severity": str(row.severity),
        "reject_media": row.reject_media,
        "reject_reports": row.reject_reports,
        "public_comment": row.public_comment,
        "private_note": row.private_note,
        "since": row.created_at,
    }


def allow_document(row: DomainAllow) -> dict[str, Any]:
    return {"domain": row.domain, "comment": row.comment, "since": row.created_at}


async def _group(name: str | None) -> Group | None:
    return await groups.get_group(name) if name is not None else None


def _where(group: Group | None) -> str:
    return f"in {group.name}" if group is not None else "on this server"


async def list_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await _group(args.group)
    rules = [policy_document(r) for r in await domain_policies.list_policies(group)]
    allowed = [allow_document(a) for a in await domain_policies.list_allowed()]
    data = {
        "rules": rules,
        "allowed": allowed,
        "allowlist_mode": ctx.settings.allowlist_mode,
    }
    rows = [
        [
            r["domain"],
            r["group"] or "(server)",
            r["severity"],
            r["reject_media"],
            r["reject_reports"],
            r["public_comment"] or "-",
            r["private_note"] or "-",
        ]
        for r in rules
    ]
    text = (
        format_table(
            ["DOMAIN", "WHERE", "SEVERITY", "NO MEDIA", "NO REPORTS", "COMMENT", "NOTE"], rows
        )
        if rows
        else "no domain policies"
    )
    mode = "on" if ctx.settings.allowlist_mode else "off"
    names = ", ".join(a["domain"] for a in allowed) or "empty"
    return Reply(data, f"{text}\nallow list (allowlist_mode {mode}): {names}")


async def set_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await _group(args.group)
    change = PolicyChange(
        domain=args.domain,
        severity=args.severity,
        reject_media=args.reject_media,
        reject_reports=args.reject_reports,
        public_comment=args.comment,
        private_note=args.note,
    )
    row = await domain_policies.set_policy(change, group=group)
    row.group = group
    return Reply(
        policy_document(row),
        f"{row.domain} and its subdomains: {domain_policies.describe(row)} {_where(group)}",
    )


async def clear_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await _group(args.group)
    await domain_policies.clear_policy(args.domain, group=group)
    return Reply(
        {"cleared": args.domain, "group": args.group},
        f"cleared the policy for {args.domain} {_where(group)}",
    )


async def allow_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    row = await domain_policies.allow_domain(args.domain, args.comment)
    mode = "" if ctx.settings.allowlist_mode else " (allowlist_mode is off: no effect yet)"
    return Reply(allow_document(row), f"allowed {row.domain} and its subdomains{mode}")


async def disallow_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    await domain_policies.disallow_domain(args.domain)
    return Reply({"disallowed": args.domain}, f"took {args.domain} off the allow list")


class ProgressBar:
    """A one-line bar redrawn in place, for a person watching a terminal."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, done: int, total: int) -> None:
        filled = self.WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\rimporting [{bar}] {done}/{total} lines{end}")
        self.stream.flush()


def _read(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's export may start with a BOM
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not UTF-8 text") from None


async def import_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    group = await _group(args.group)
    text = _read(args.file)
    long_file = text.count("\n") >= PROGRESS_FROM
    progress = ProgressBar(ctx.stderr) if long_file and ctx.stderr.isatty() else None
    report = await blocklists.import_blocklist(text, group=group, progress=progress)
    summary = f"imported {report.imported} of {report.lines} lines {_where(group)}"
    if report.bad:
        shown = " | ".join(f"line {b.line}: {b.error}" for b in report.bad[:MAX_BAD_LINES_SHOWN])
        more = len(report.bad) - MAX_BAD_LINES_SHOWN
        rest = f" | and {more} more" if more > 0 else ""
        raise CommandError(f"{args.file}: {summary}, {len(report.bad)} bad: {shown}{rest}")
    return Reply({"imported": report.imported, "lines": report.lines}, summary)


async def export_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    rows = [r for r in await domain_policies.list_policies() if r.group is None]
    return Reply([policy_document(r) for r in rows], blocklists.write_blocklist(rows))
