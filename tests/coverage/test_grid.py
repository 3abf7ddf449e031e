"""The grid villages are judged on: their cells and each centre's ring."""

from __future__ import annotations

import numpy as np

from coverage.grid import village_grid
from geodata.hexgrid import cell_centres, cells_for_points, neighbourhood


def test_each_village_has_its_cells_and_its_centre_ring(villages) -> None:
    grid = village_grid(villages, resolution=10)
    for village in villages.itertuples():
        mine = grid.village_cells.loc[grid.village_cells["village_id"] == village.id, "h3"]
        lat, lon = cell_centres(mine.to_numpy(np.uint64))
        west, south, east, north = village.geometry.bounds
        assert ((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)).all()
        centre = cells_for_points(
            np.array([village.centre_lat]), np.array([village.centre_lon]), resolution=10
        )
        ring = grid.centre_cells.loc[grid.centre_cells["village_id"] == village.id, "h3"]
        assert sorted(ring) == sorted(neighbourhood(centre, k=1)["neighbour"])
    union = np.union1d(grid.village_cells["h3"], grid.centre_cells["h3"])
    np.testing.assert_array_equal(grid.cells, union.astype(np.uint64))
