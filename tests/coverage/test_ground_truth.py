"""The analysis against the demo simulator's ground truth, over several seeds.

The analysis is given only what a real user has: village polygons, the site
list, the readings, the DEM and a population raster. The truth file, computed
by the simulator from its own signal field, is read here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from coverage.pipeline import analyze
from geodata.demo import write_demo
from geodata.readings import read_readings_csv, validate_readings
from geodata.sites import read_sites
from geodata.villages import read_villages

SEEDS = (7, 11, 23)
MIN_ACCURACY = 0.9


@pytest.fixture(scope="module", params=SEEDS)
def judged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    files = write_demo(tmp_path_factory.mktemp(f"demo-{request.param}"), seed=request.param)
    readings = validate_readings(read_readings_csv(files.readings))
    assert readings.rejected == []
    result = analyze(
        read_villages(files.villages),
        read_sites(files.sites),
        readings.valid,
        dem=files.dem,
        population=files.population,
    )
    truth = pd.read_csv(files.truth, dtype={"village_id": str}).set_index("village_id")
    found = result.villages.set_index("id")
    return request.param, found, truth


def test_verdicts_match_the_truth(judged) -> None:
    seed, found, truth = judged
    both = truth[["verdict"]].join(found[["name", "verdict"]].add_suffix("_found"))
    accuracy = (both["verdict"] == both["verdict_found"]).mean()
    wrong = both.loc[
        both["verdict"] != both["verdict_found"], ["name_found", "verdict", "verdict_found"]
    ]
    print(f"seed {seed}: accuracy {accuracy:.0%} over {len(both)} villages\n{wrong}")
    assert len(both) == len(found)
    assert accuracy >= MIN_ACCURACY, f"seed {seed}: {accuracy:.0%}\n{wrong}"


def test_ban_giong_is_flagged(judged) -> None:
    seed, found, _ = judged
    ban_giong = found.loc[found["name"] == "Bản Giòng"].iloc[0]
    assert ban_giong["verdict"] in {"patchy", "no_signal"}, f"seed {seed}"
    assert ban_giong["households"] == 98
    assert ban_giong["households_without_signal"] > 0


def test_the_analysis_never_reads_the_truth() -> None:
    # The truth file is the simulator's; no library module may mention it.
    root = Path(__file__).resolve().parents[2]
    for package in ("coverage", "app"):
        for module in (root / package).rglob("*.py"):
            text = module.read_text(encoding="utf-8")
            assert ".truth" not in text and "truth.csv" not in text, module
