"""H3 on arrays agrees with h3-py, cell by cell."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pytest
import shapely

from geodata.hexgrid import (
    cell_areas_m2,
    cell_centres,
    cell_polygons,
    cell_resolutions,
    cells_bounds,
    cells_for_points,
    cells_from_strings,
    cells_in_polygons,
    cells_to_strings,
    change_resolution,
    parent_cells,
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


def test_resolutions_areas_parents_and_bounds_match_h3_py() -> None:
    rng = np.random.default_rng(5)
    lat, lon = rng.uniform(21.5, 23.0, 50), rng.uniform(104.5, 106.0, 50)
    fine = cells_for_points(lat, lon, resolution=10)
    names = cells_to_strings(fine).tolist()
    assert cell_resolutions(fine).tolist() == [h3.get_resolution(c) for c in names]
    np.testing.assert_allclose(
        cell_areas_m2(fine), [h3.cell_area(c, unit="m^2") for c in names], rtol=1e-9
    )
    assert cells_to_strings(change_resolution(fine, 8)).tolist() == [
        h3.cell_to_parent(c, 8) for c in names
    ]
    assert cells_to_strings(parent_cells(fine)).tolist() == [h3.cell_to_parent(c) for c in names]
    corners = np.array([p for c in names for p in h3.cell_to_boundary(c)])  # (lat, lng)
    west, south, east, north = cells_bounds(fine)
    assert west == pytest.approx(corners[:, 1].min())
    assert east == pytest.approx(corners[:, 1].max())
    assert south == pytest.approx(corners[:, 0].min())
    assert north == pytest.approx(corners[:, 0].max())


def test_empty_cells_give_empty_answers() -> None:
    none = np.empty(0, dtype=np.uint64)
    assert cell_resolutions(none).size == 0
    assert cell_areas_m2(none).size == 0
    assert change_resolution(none, 8).size == 0
    with pytest.raises(ValueError, match="no cells"):
        cells_bounds(none)
