"""Map cells: fine cells gathered into the res-9 hexagons maps show, each with a commune."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coverage.map_cells import (
    CELL_COLUMNS,
    MAP_RESOLUTION,
    cells_for_storage,
    cells_geoframe,
    coarsen_cells,
)
from coverage.pipeline import analyze
from coverage.thresholds import PRIOR_READINGS
from geodata.hexgrid import (
    cell_resolutions,
    cells_for_points,
    cells_from_strings,
    change_resolution,
)


def _children(n: int) -> np.ndarray:
    """``n`` distinct res-10 cells of one res-9 parent."""
    lat = 22.57 + np.linspace(0, 0.0008, 40)
    cells = np.unique(cells_for_points(lat, np.full(40, 105.49), resolution=10))
    parent = cells_for_points(np.array([22.57]), np.array([105.49]), resolution=9)[0]
    mine = cells[change_resolution(cells, 9) == parent]
    assert len(mine) >= n
    return mine[:n]


def test_a_parent_weighs_its_children_by_readings_plus_the_prediction() -> None:
    h3 = _children(2)
    fine = pd.DataFrame(
        {
            "h3": h3,
            "carrier": ["Viettel"] * 2,
            "radio": ["lte", "gsm"],
            "p_usable": [0.9, 0.1],
            "dbm": [-90.0, -115.0],
            "evidence": ["measured", "predicted"],
            "count": [6, 0],
        }
    )
    coarse = coarsen_cells(fine, resolution=9)
    assert len(coarse) == 1
    row = coarse.iloc[0]
    w = np.array([6 + PRIOR_READINGS, PRIOR_READINGS])
    assert np.isclose(row["p_usable"], (0.9 * w[0] + 0.1 * w[1]) / w.sum())
    assert np.isclose(row["dbm"], (-90.0 * w[0] - 115.0 * w[1]) / w.sum())
    assert row["radio"] == "lte"  # the child with the most evidence speaks
    assert row["evidence"] == "measured"
    assert row["count"] == 6
    assert cell_resolutions(cells_from_strings(coarse["h3"]))[0] == 9


def test_analysis_result_map_cells_are_the_stored_cells(villages, sites, readings) -> None:
    result = analyze(villages, sites, readings)
    cells = result.map_cells()
    pd.testing.assert_frame_equal(cells, cells_for_storage(result.cells, result.villages))
    assert set(cells.columns) == set(CELL_COLUMNS)
    assert set(cell_resolutions(cells_from_strings(cells["h3"]))) == {MAP_RESOLUTION}
    assert set(cells["commune_id"]) == set(villages["commune_id"])
    overview = result.map_cells(resolution=8)
    assert len(overview) < len(cells)
    frame = cells_geoframe(cells)
    assert frame.crs.to_epsg() == 4326
    assert frame.geometry.geom_type.eq("Polygon").all()
