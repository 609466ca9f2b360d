"""`python -m bench` runs every benchmark at its default count; `python -m bench fanout
--count 200` runs one."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from types import ModuleType

from . import fanout, inbox, signatures
from .report import Figure, machine

BENCHMARKS: dict[str, ModuleType] = {
    "signatures": signatures,
    "inbox": inbox,
    "fanout": fanout,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run ({', '.join(BENCHMARKS)}); all when none is named",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=None,
        help="operations per benchmark (signatures, POSTs, members) instead of the default",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)} (known: {', '.join(BENCHMARKS)})")
    if args.count is not None and args.count < 1:
        parser.error("--count must be at least 1")
    return args


def run(names: Sequence[str], count: int | None) -> list[Figure]:
    figures: list[Figure] = []
    for name in names or BENCHMARKS:
        module = BENCHMARKS[name]
        effective = count if count is not None else module.DEFAULT_COUNT
        print(f"# {name} (count {effective}, {machine()})", flush=True)
        figures.extend(module.run(effective))
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    run(args.names, args.count)


if __name__ == "__main__":
    main()
