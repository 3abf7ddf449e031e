"""The streaming JSON list decoder beside ``json.loads`` and, when installed, ijson.

``geodata/formats/jsonstream.py`` decodes a list one item at a time with the
standard library's ``raw_decode`` over a sliding buffer. This prints its
items/s beside decoding the whole document at once (the speed it must not
fall far below) and beside ``ijson.items`` (yajl2_c backend), the library
that does the same job; ijson is not a dependency, so that row appears only
when it is importable. Figures are printed, never asserted.

Run: ``.venv/bin/python benchmarks/bench_jsonstream.py [N]``
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable

from geodata.formats._common import text_stream
from geodata.formats.jsonstream import iter_json_list


def best_of(run: Callable[[], int], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(n: int) -> None:
    items = [
        {
            "time": "2026-01-05T03:00:00Z",
            "lat": 22.5 + i * 1e-6,
            "lon": 105.49,
            "accuracy_m": 10,
            "mcc": 452,
            "mnc": 4,
            "radio": "LTE",
            "signal_dbm": -100,
            "no_service": False,
            "device": "phone-1",
        }
        for i in range(n)
    ]
    data = json.dumps({"readings": items}).encode()
    print(f"{len(data) / 1e6:.1f} MB, {n} reading objects")

    def streamed() -> int:
        text = text_stream(io.BytesIO(data))
        return sum(1 for _ in iter_json_list(text, key="readings", what="json"))

    runs: dict[str, Callable[[], int]] = {
        "jsonstream (bounded memory)": streamed,
        "json.loads (whole document)": lambda: len(json.loads(data)["readings"]),
    }
    try:
        import ijson  # type: ignore[import-not-found]

        runs[f"ijson.items ({ijson.backend}, floats)"] = lambda: sum(
            1 for _ in ijson.items(io.BytesIO(data), "readings.item", use_float=True)
        )
    except ImportError:
        print("(ijson not installed: its row is left out)")
    baseline = best_of(streamed)
    for name, run in runs.items():
        seconds = baseline if run is streamed else best_of(run)
        rate = n / seconds / 1e3
        print(f"{name:40s} {seconds:6.3f} s  {rate:6.0f}k items/s  ×{baseline / seconds:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
