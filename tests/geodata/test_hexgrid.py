"""H3 on arrays agrees with h3-py, cell by cell."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import shapely

from geodata.hexgrid import (
    cell_centres,
    cell_polygons,
    cells_for_points,
    cells_from_strings,
    cells_in_polygons,
    cells_to_strings,
    unique_cells,
)


def test_array_cells_match_h3_py() -> None:
    lat = np.array([22.57, 22.0, 21.95])
    lon = np.array([105.49, 105.4, 105.45])
    cells = cells_for_points(lat, lon, resolution=9)
    expected = [h3.latlng_to_cell(a, b, 9) for a, b in zip(lat, lon, strict=True)]
    assert cells_to_strings(cells).tolist() == expected
    assert (cells_from_strings(expected) == cells).all()


def test_centres_and_polygons_are_consistent() -> None:
    cells = cells_for_points(np.array([22.57]), np.array([105.49]), resolution=9)
    lat, lon = cell_centres(cells)
    polygon = cell_polygons(cells)[0]
    assert polygon.contains(shapely.Point(lon[0], lat[0]))


def test_every_polygon_gets_at_least_one_cell() -> None:
    tiny = shapely.box(105.49, 22.57, 105.4901, 22.5701)  # ~10 m: no cell centre inside
    frame = gpd.GeoDataFrame({"id": ["tiny"]}, geometry=[tiny], crs="EPSG:4326")
    assert len(cells_in_polygons(frame, resolution=9)) == 1


def test_unique_cells_is_numpy_unique() -> None:
    cells = np.random.default_rng(0).integers(0, 50, 1000).astype(np.uint64)
    assert np.array_equal(unique_cells(cells), np.unique(cells))
    assert unique_cells(np.empty(0, np.uint64)).dtype == np.uint64


def test_many_points_are_indexed_in_order_across_threads() -> None:
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(21.9, 22.7, 450_000), rng.uniform(105.3, 105.6, 450_000)
    cells = cells_for_points(lat, lon, resolution=10)
    probe = rng.integers(0, len(lat), 200)
    assert [int(c) for c in cells[probe]] == [
        int(h3.str_to_int(h3.latlng_to_cell(lat[i], lon[i], 10))) for i in probe
    ]
