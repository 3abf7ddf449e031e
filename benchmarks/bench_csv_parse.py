"""Native readings CSV: parse + validate throughput beside pandas.read_csv alone.

Both run here, in one process, on the same synthetic file of N rows (1M by
default); the readings/s of each and their ratio are printed, not asserted.
The store's insert is left for the service benchmark to add.

Run: ``.venv/bin/python benchmarks/bench_csv_parse.py [N]``
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from geodata.formats import read_readings
from geodata.readings import validate_readings


def write_synthetic_csv(path: Path, n: int, *, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    no_service = rng.random(n) < 0.15
    seconds = rng.integers(0, 42 * 86400, n)
    frame = pd.DataFrame(
        {
            "time": (
                pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(seconds, unit="s")
            ).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lat": rng.uniform(21.9, 22.7, n).round(6),
            "lon": rng.uniform(105.0, 105.6, n).round(6),
            "accuracy_m": rng.uniform(3, 40, n).round(1),
            "mcc": 452,
            "mnc": rng.choice([1, 2, 4], n),
            "radio": rng.choice(["lte", "umts"], n),
            "signal_dbm": pd.array(
                np.where(no_service, 0, rng.integers(-120, -60, n)), dtype="Int64"
            ),
            "no_service": np.where(no_service, "true", "false"),
            "cell_id": rng.integers(1, 2**20, n),
            "device": rng.integers(0, 50, n).astype(str),
        }
    )
    frame.loc[no_service, "signal_dbm"] = pd.NA
    frame.to_csv(path, index=False)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    now = pd.Timestamp("2026-03-01", tz="UTC")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "readings.csv"
        write_synthetic_csv(path, n)
        size_mb = path.stat().st_size / 1e6

        start = time.perf_counter()
        for _ in pd.read_csv(path, chunksize=100_000):
            pass
        bare = time.perf_counter() - start

        start = time.perf_counter()
        valid = rejected = 0
        for chunk in read_readings(path, format="csv"):
            result = validate_readings(chunk.readings, now=now)
            valid += len(result.valid)
            rejected += len(result.rejected) + len(chunk.rejected)
        ours = time.perf_counter() - start

    print(f"{n:,} native CSV rows ({size_mb:.0f} MB), chunks of 100,000")
    print(f"pandas.read_csv alone      {n / bare:12,.0f} rows/s   ({bare:.2f} s)")
    print(f"read_readings + validate   {n / ours:12,.0f} readings/s ({ours:.2f} s)")
    print(f"ratio (ours / read_csv)    {bare / ours:12.2f}")
    print(f"valid {valid:,}, rejected {rejected:,}")


if __name__ == "__main__":
    main()
