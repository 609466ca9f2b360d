"""`python -m bench` runs every default benchmark at its default count; `python -m bench
fanout --count 200` runs one. `fanout-hung` (servers that accept and never answer) only runs
when named: it lasts at least a delivery timeout. `--quick` is the CI smoke run: every default
benchmark and fanout-wide (with its Fedify comparison) at tiny counts, checked for completeness
(every POST answered, every server reached), never for time; it exits 1 if any is incomplete."""

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
    #: The count `--quick` runs it at; None: `--quick` leaves it out.
    quick_count: int | None = None
    #: What `--quick` checks beyond the figures' notes: the problems found, none if complete.
    check: Callable[[list[Figure]], list[str]] | None = None


BENCHMARKS: dict[str, Benchmark] = {
    "signatures": Benchmark(signatures.run, signatures.DEFAULT_COUNT, quick_count=3),
    "inbox": Benchmark(inbox.run, inbox.DEFAULT_COUNT, quick_count=6),
    "ingest": Benchmark(ingest.run, ingest.DEFAULT_COUNT, quick_count=4),
    "fanout": Benchmark(fanout.run, fanout.DEFAULT_COUNT, quick_count=10),
    "fanout-wide": Benchmark(
        fanout.run_wide,
        fanout.WIDE_DEFAULT_COUNT,
        by_default=False,
        quick_count=20,
        check=fanout.check_wide,
    ),
    # Lasts at least a delivery timeout whatever the count; its scenario has a smoke test.
    "fanout-hung": Benchmark(fanout.run_hung, fanout.HUNG_DEFAULT_COUNT, by_default=False),
}

#: What a figure's note says when the benchmark did not finish the work it measures.
UNFINISHED = ("INCOMPLETE", "refused {")


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
        "--quick",
        action="store_true",
        help="smoke run: default benchmarks and fanout-wide at tiny counts, checked for"
        " completeness, never time; saves nothing, exits 1 if any is incomplete",
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
    if args.quick and args.count is not None:
        parser.error("--quick runs each benchmark at its own tiny count; drop --count")
    slow = [name for name in args.names if BENCHMARKS[name].quick_count is None]
    if args.quick and slow:
        parser.error(f"--quick does not run {', '.join(slow)}")
    return args


def chosen_names(names: Sequence[str], quick: bool = False) -> list[str]:
    """The benchmarks named, else the default ones (and, with `quick`, every quick one)."""
    if names:
        return list(names)
    if quick:
        return [name for name, bench in BENCHMARKS.items() if bench.quick_count is not None]
    return [name for name, bench in BENCHMARKS.items() if bench.by_default]


def run(names: Sequence[str], count: int | None) -> list[Figure]:
    figures: list[Figure] = []
    for name in chosen_names(names):
        bench = BENCHMARKS[name]
        effective = count if count is not None else bench.default_count
        print(f"# {name} (count {effective}, {machine()})", flush=True)
        figures.extend(bench.run(effective))
    return figures


def run_quick(names: Sequence[str]) -> list[str]:
    """Each benchmark at its quick count; the problems found (none: all complete)."""
    problems: list[str] = []
    for name in chosen_names(names, quick=True):
        bench = BENCHMARKS[name]
        assert bench.quick_count is not None
        print(f"# {name} (quick, count {bench.quick_count}, {machine()})", flush=True)
        figures = bench.run(bench.quick_count)
        if not figures:
            problems.append(f"{name}: no figure")
        problems += [
            f"{name}: {figure.what}: {figure.note}"
            for figure in figures
            if any(mark in figure.note for mark in UNFINISHED)
        ]
        if bench.check is not None:
            problems += [f"{name}: {problem}" for problem in bench.check(figures)]
    return problems


def main(argv: Sequence[str] | None = None) -> Path | None:
    """Run and print; save the figures as JSON unless told not to. Returns the file.
    With `--quick`, saves nothing and exits 1 (listing why) if any benchmark is incomplete."""
    args = parse_args(argv)
    if args.quick:
        problems = run_quick(args.names)
        for problem in problems:
            print(f"# INCOMPLETE {problem}", flush=True)
        if problems:
            raise SystemExit(1)
        print("# quick: every benchmark completed its work (times are not judged)", flush=True)
        return None
    figures = run(args.names, args.count)
    if args.no_save:
        return None
    chosen = chosen_names(args.names)
    path = save(figures, chosen, args.results)
    print(f"# saved {path}", flush=True)
    return path


if __name__ == "__main__":
    main()
