"""How every benchmark prints its figures: one self-describing line per measurement.

A figure without the machine it came from is not comparable, so each line carries the CPU
count and Python version; a rate without its count and wall time hides how noisy it is, so
those are printed too.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass


def machine() -> str:
    """`cpus=2 python=3.11.7`: what the figures were measured on."""
    return f"cpus={os.cpu_count()} python={platform.python_version()}"


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` in 0..1) of `samples`; NaN when empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Figure:
    """One measurement: `count` operations of `what` took `wall` seconds."""

    what: str
    count: int
    wall: float
    unit: str = "ops"
    latencies: Sequence[float] = ()
    note: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.wall if self.wall > 0 else math.inf

    def line(self) -> str:
        parts = [
            f"{self.what}: {self.count} {self.unit} in {self.wall:.3f} s",
            f"{self.rate:,.1f} {self.unit}/s",
        ]
        if self.latencies:
            p50 = percentile(self.latencies, 0.50) * 1000
            p95 = percentile(self.latencies, 0.95) * 1000
            p99 = percentile(self.latencies, 0.99) * 1000
            parts.append(f"p50 {p50:.2f} ms p95 {p95:.2f} ms p99 {p99:.2f} ms")
        if self.note:
            parts.append(self.note)
        parts.append(machine())
        return " | ".join(parts)


def emit(figure: Figure) -> Figure:
    """Print the figure's line now (flushed: long runs show progress) and hand it back."""
    print(figure.line(), flush=True)
    return figure
