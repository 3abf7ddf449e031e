"""What the privacy rule costs the analysis: the device sketch beside the cell statistics.

``coverage.map_cells.device_sketch`` (which devices read each res-10 cell, up
to 3) is the analysis' one new pass over the readings; it runs here beside
``coverage.stats.aggregate_readings`` on the same synthetic readings, in one
process, and the ratio is printed, not asserted. ``public_cells`` then works
on the sketch and the cells, not on the readings.

Run: ``.venv/bin/python benchmarks/bench_privacy.py [N]`` (default 1,000,000)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_aggregate import synthetic_readings

from coverage.map_cells import device_sketch
from coverage.stats import aggregate_readings


def timed(func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Best of three runs: the result and its seconds."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        result = func(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return result, best


def main(n: int) -> None:
    """Time both on ``n`` readings and print the ratio."""
    readings = synthetic_readings(n)
    stats, stats_s = timed(aggregate_readings, readings, resolution=10)
    sketch, sketch_s = timed(device_sketch, readings, resolution=10)
    print(f"{n:,} readings, {len(stats):,} cell groups, {len(sketch):,} sketch rows")
    print(f"aggregate_readings (baseline): {stats_s:6.2f} s")
    ratio = sketch_s / stats_s
    print(f"device_sketch:                 {sketch_s:6.2f} s  ({ratio:.2f}× the baseline)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
