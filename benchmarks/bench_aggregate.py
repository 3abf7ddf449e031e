"""Readings -> H3 cell statistics: lomsong's array path beside a scalar baseline.

Baseline: h3-py's scalar ``latlng_to_cell`` called per reading (the obvious
way to write it), then the same pandas groupby. Both run here, in one
process, on the same synthetic readings; the ratio is printed, not asserted.

Run: ``.venv/bin/python benchmarks/bench_aggregate.py [N]``
"""

from __future__ import annotations

import sys
import time
import tracemalloc

import h3
import numpy as np
import pandas as pd

from coverage.stats import aggregate_readings


def synthetic_readings(n: int, *, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    no_service = rng.random(n) < 0.15
    return pd.DataFrame(
        {
            "time": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 42 * 86400, n), unit="s"),
            "lat": rng.uniform(21.9, 22.7, n),
            "lon": rng.uniform(105.0, 105.6, n),
            "mcc": 452,
            "mnc": rng.choice([1, 2, 4], n),
            "radio": rng.choice(["lte", "umts"], n),
            "signal_dbm": np.where(no_service, np.nan, rng.normal(-100, 10, n)),
            "no_service": no_service,
            "device": rng.integers(0, 50, n).astype(str),
        }
    )


def baseline(readings: pd.DataFrame) -> pd.DataFrame:
    cells = [
        h3.latlng_to_cell(a, b, 9) for a, b in zip(readings["lat"], readings["lon"], strict=True)
    ]
    frame = readings.assign(h3=cells)
    return frame.groupby(["h3", "mcc", "mnc", "radio"]).agg(
        count=("signal_dbm", "size"),
        mean_dbm=("signal_dbm", "mean"),
        no_service_count=("no_service", "sum"),
        devices=("device", "nunique"),
    )


def timed(label: str, func, *args):
    tracemalloc.start()
    start = time.perf_counter()
    result = func(*args)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"{label:<28} {elapsed:8.2f} s   peak {peak:8.1f} MiB   {len(result):>9,} cells")
    return elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    readings = synthetic_readings(n)
    print(f"{n:,} readings")
    ours = timed("lomsong aggregate_readings", aggregate_readings, readings)
    theirs = timed("baseline (scalar h3-py)", baseline, readings)
    print(f"ratio baseline / lomsong: {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
