"""`deliveries …`: see where outbound deliveries stand, and send a recovered host its backlog."""

from __future__ import annotations

import argparse

from fedgroup.activitypub.hosts import authority_or_none
from fedgroup.cli.commands import CommandContext, CommandError, CommandRegistry
from fedgroup.cli.output import Reply, format_fields, format_table
from fedgroup.service import outbound
from fedgroup.storage.models import Delivery, Instance


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


async def retry_command(args: argparse.Namespace, ctx: CommandContext) -> Reply:
    host = authority_or_none(args.host)
    if not host:
        raise CommandError(f"not a host or URL: {args.host!r}")
    if not (await Delivery.exists(host=host) or await Instance.exists(host=host)):
        raise CommandError(f"no deliveries to {host} and no such instance known")
    due = await outbound.retry_host(host)
    return Reply({"host": host, "due": due}, f"{due} deliveries to {host} are due now")
