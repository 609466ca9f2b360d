"""`python -m bench` runs every default benchmark at its default count; `python -m bench
fanout --count 200` runs one. `fanout-hung` (servers that accept and never answer) only runs
when named: it lasts at least a delivery timeout."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import fanout, inbox, ingest, signatures
from .report import Figure, machine, save

#: Saved results (git ignores them: figures belong to the machine that measured them).
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Benchmark:
    run: Callable[[int], list[Figure]]
    default_count: int
    by_default: bool = True


BENCHMARKS: dict[str, Benchmark] = {
    "signatures": Benchmark(signatures.run, signatures.DEFAULT_COUNT),
    "inbox": Benchmark(inbox.run, inbox.DEFAULT_COUNT),
    "ingest": Benchmark(ingest.run, ingest.DEFAULT_COUNT),
    "fanout": Benchmark(fanout.run, fanout.DEFAULT_COUNT),
    "fanout-wide": Benchmark(fanout.run_wide, fanout.WIDE_DEFAULT_COUNT, by_default=False),
    "fanout-hung": Benchmark(fanout.run_hung, fanout.HUNG_DEFAULT_COUNT, by_default=False),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run ({', '.join(BENCHMARKS)}); the default ones when none is named",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        metavar="DIR",
        help=f"where the run's figures are saved as JSON (default {RESULTS})",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="print the figures only, save nothing"
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
    chosen = names or [name for name, bench in BENCHMARKS.items() if bench.by_default]
    figures: list[Figure] = []
    for name in chosen:
        bench = BENCHMARKS[name]
        effective = count if count is not None else bench.default_count
        print(f"# {name} (count {effective}, {machine()})", flush=True)
        figures.extend(bench.run(effective))
    return figures


def main(argv: Sequence[str] | None = None) -> Path | None:
    """Run and print; save the figures as JSON unless told not to. Returns the file."""
    args = parse_args(argv)
    figures = run(args.names, args.count)
    if args.no_save:
        return None
    chosen = args.names or [name for name, bench in BENCHMARKS.items() if bench.by_default]
    path = save(figures, chosen, args.results)
    print(f"# saved {path}", flush=True)
    return path


if __name__ == "__main__":
    main()
