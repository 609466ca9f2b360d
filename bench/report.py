"""How every benchmark prints its figures: one self-describing line per measurement.

A figure without the machine it came from is not comparable, so each line carries the CPU
count and Python version; a rate without its count and wall time hides how noisy it is, so
those are printed too.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


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


def machine_info() -> dict[str, object]:
    """What a saved result was measured on, to compare like with like later."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def as_record(figure: Figure) -> dict[str, object]:
    record: dict[str, object] = {
        "what": figure.what,
        "count": figure.count,
        "unit": figure.unit,
        "wall_s": round(figure.wall, 6),
        "rate_per_s": round(figure.rate, 3) if math.isfinite(figure.rate) else None,
        "note": figure.note,
    }
    if figure.latencies:
        for name, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            record[f"{name}_ms"] = round(percentile(figure.latencies, fraction) * 1000, 3)
    return record


def save(figures: Sequence[Figure], names: Sequence[str], directory: Path) -> Path:
    """Write the run's figures and the machine they came from as one JSON file in
    `directory` (created if needed); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = directory / f"{stamp}-{'-'.join(names) or 'default'}.json"
    document = {
        "measured_at": stamp,
        "benchmarks": list(names),
        "machine": machine_info(),
        "figures": [as_record(f) for f in figures],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
