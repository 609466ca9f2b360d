"""`deliveries …`: see where outbound deliveries stand, and send a recovered host its backlog."""

from __future__ import annotations

import argparse
from typing import Any

from fedgroup.activitypub.hosts import authority_or_none
from fedgroup.cli.commands import EXIT_USAGE, CommandContext, CommandError, CommandRegistry
from fedgroup.cli.output import Reply, format_fields, format_table
from fedgroup.service import groups, outbound
from fedgroup.storage.models import Delivery, DeliveryState, Instance

STATE_NAMES = [state.value for state in DeliveryState]


def register(cli: CommandRegistry) -> None:
    noun = cli.noun("deliveries", help="see and nudge the outbound delivery queue")
    noun.verb(
        "status",
        status_command,
        help="counts per state, unreachable instances and the backlog per host",
    )
    retry = noun.verb(
        "retry",
        retry_command,
        help="send a host everything we still owe it now, and forget it was unreachable",
        description=(
            "Make the host's retrying, parked and given-up deliveries due now (given-up ones "
            "get a fresh give-up period) and clear its unreachable mark."
        ),
    )
    retry.add_argument("host", help="host as shown by `deliveries status`, or an inbox URL")
    listing = noun.verb(
        "list",
        list_command,
        help="list deliveries, the next due first (default: queued, retrying and failed)",
        description=(
            "List outbound deliveries with their attempts and last error, the next due first. "
            "Without --state: those queued, retrying or given up on (failed)."
        ),
    )
    listing.add_argument("--group", help="only deliveries of this group's activities")
    listing.add_argument(
        "--state",
        action="append",
        choices=[*STATE_NAMES, "all"],
        help="only deliveries in this state (repeat for several; 'all' for every state)",
    )
    listing.add_argument("--host", help="only deliveries to this host (or an inbox URL's host)")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (100)")


async def status_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    status = await outbound.deliveries_status()
    parts = [format_fields(status["counts"].items())]
    if status["unreachable"]:
        rows = [
            [u["host"], u["unreachable_since"], u["failing_since"]] for u in status["unreachable"]
        ]
        parts.append(
            "unreachable instances:\n"
            + format_table(["HOST", "UNREACHABLE SINCE", "FAILING SINCE"], rows)
        )
    else:
        parts.append("unreachable instances: none")
    if status["backlog"]:
        rows = [[b["host"], b["pending"], b["next_attempt_at"]] for b in status["backlog"]]
        parts.append("backlog:\n" + format_table(["HOST", "PENDING", "NEXT ATTEMPT"], rows))
    else:
        parts.append("backlog: none")
    return Reply(status, "\n\n".join(parts))


def host_argument(text: str) -> str:
    """The host deliveries are grouped by, from what an admin types (a host, `host:port`, or
    an inbox URL), in the one canonical spelling the queue stores."""
    host = authority_or_none(text)
    if not host:
        raise CommandError(f"not a host or URL: {text!r}")
    return host


def delivery_document(row: Delivery) -> dict[str, Any]:
    activity = row.activity
    return {
        "id": row.id,
        "state": str(row.state),
        "host": row.host,
        "inbox": row.inbox,
        "activity": {"id": activity.ap_id, "type": activity.type},
        "group": activity.group.name if activity.group is not None else None,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "delivered_at": row.delivered_at,
    }


async def list_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    if args.limit < 1:
        raise CommandError("--limit must be at least 1", exit_code=EXIT_USAGE)
    group = await groups.get_group(args.group) if args.group is not None else None
    chosen = args.state or []
    states = (
        list(DeliveryState)
        if "all" in chosen
        else [DeliveryState(s) for s in chosen] or list(outbound.STUCK_STATES)
    )
    host = host_argument(args.host) if args.host is not None else None
    rows, total = await outbound.list_deliveries(
        group=group, states=states, host=host, limit=args.limit
    )
    docs = [delivery_document(row) for row in rows]
    if not docs:
        return Reply(docs, "no deliveries match")
    table = format_table(
        ["ID", "STATE", "HOST", "GROUP", "ACTIVITY", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR"],
        [
            [
                d["id"],
                d["state"],
                d["host"],
                d["group"],
                d["activity"]["type"],
                d["attempts"],
                d["next_attempt_at"] if d["state"] in ("queued", "retrying") else None,
                _last_error(d),
            ]
            for d in docs
        ],
    )
    more = f"\n{total - len(docs)} more; raise --limit to see them" if total > len(docs) else ""
    return Reply(docs, table + more)


def _last_error(doc: dict[str, Any]) -> str | None:
    status, error = doc["last_status"], doc["last_error"]
    text = " ".join(str(part) for part in (status, error) if part)
    return text[:80] or None


async def retry_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    host = host_argument(args.host)
    if not (await Delivery.exists(host=host) or await Instance.exists(host=host)):
        raise CommandError(f"no deliveries to {host} and no such instance known")
    due = await outbound.retry_host(host)
    return Reply({"host": host, "due": due}, f"{due} deliveries to {host} are due now")
