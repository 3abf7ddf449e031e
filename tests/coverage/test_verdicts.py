"""The patchy rule (lõm sóng) on constructed villages."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.verdicts import judge_villages


def judge(centre_p: float, cell_p: list[float], households: list[float]) -> pd.Series:
    villages = gpd.GeoDataFrame({"id": ["v"], "households": [sum(households)]},
                                geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:4326")  # fmt: skip
    cells = np.arange(1, len(cell_p) + 1, dtype=np.uint64)
    fused = pd.DataFrame({
        "h3": np.concatenate([[np.uint64(100)], cells]), "carrier": "X",
        "p_usable": [centre_p, *cell_p], "evidence": "measured", "radio": "lte",
        "count": 20,
    })  # fmt: skip
    weights = pd.DataFrame({"village_id": "v", "h3": cells, "households": households})
    centre = pd.DataFrame({"village_id": ["v"], "h3": np.array([100], dtype=np.uint64)})
    return judge_villages(villages, fused, households=weights, centre_cells=centre).iloc[0]


def test_no_usable_signal_at_the_centre_is_no_signal() -> None:
    assert judge(0.05, [0.95, 0.95], [50, 50])["verdict"] == "no_signal"


def test_intermittent_centre_is_patchy() -> None:
    assert judge(0.5, [0.95, 0.95], [50, 50])["verdict"] == "patchy"


def test_a_hamlet_without_signal_makes_the_village_patchy() -> None:
    row = judge(0.97, [0.95, 0.2], [85, 15])  # 15 % of households unserved
    assert row["verdict"] == "patchy"
    assert row["households_without_signal"] == 15


def test_a_few_households_short_stay_covered() -> None:
    row = judge(0.97, [0.95, 0.2], [95, 5])  # 5 % < the 10 % share
    assert row["verdict"] == "covered"
    assert row["households_without_signal"] == 5
