"""Each kernel of coverage._kernels gives the answer of the library call it replaces.

Oracle tests: random inputs, the kernel against plain pandas, shapely or
geopandas, compared exactly (rows, order, dtypes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from coverage._kernels import grid_rows, labels_from_codes, outer_join, points_in_polygons, spread


def test_labels_match_a_text_series() -> None:
    labels = labels_from_codes(np.array([2, 0, 1, -1]), ["good", "fair", "weak"])
    expected = pd.Series(["weak", "good", "fair", None], dtype="str")
    pd.testing.assert_series_equal(pd.Series(labels), expected)


@pytest.mark.parametrize("seed", range(5))
def test_labels_from_random_codes_are_pandas_text(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = ["measured", "predicted", "none", "Bản Giòng"]
    codes = rng.integers(-1, len(names), 500)
    expected = pd.Series([names[c] if c >= 0 else None for c in codes.tolist()], dtype="str")
    pd.testing.assert_series_equal(pd.Series(labels_from_codes(codes, names)), expected)


@pytest.mark.parametrize("seed", [2, 11, 23])
def test_the_estimates_join_is_pandas_outer_merge(seed: int) -> None:
    rng = np.random.default_rng(seed)

    def table(values: list[str], rows: int) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "h3": rng.integers(0, 40, rows).astype(np.uint64),
                "carrier": rng.choice(["Viettel", "MobiFone", "VinaPhone"], rows),
                "radio": rng.choice(["lte", "umts", "nr"], rows),
            }
        ).drop_duplicates(["h3", "carrier", "radio"])
        return frame.assign(**{name: rng.normal(size=len(frame)) for name in values})

    left, right = table(["calibrated_dbm"], 200), table(["count", "median_dbm"], 80)
    left["carrier"] = left["carrier"].astype("string")  # as predictions carry it
    keys = ["h3", "carrier", "radio"]
    pd.testing.assert_frame_equal(
        outer_join(left, right, keys), left.merge(right, on=keys, how="outer")
    )


def test_the_outer_join_with_repeated_keys_is_still_the_merge() -> None:
    left = pd.DataFrame(
        {"h3": np.array([1, 1, 2], np.uint64), "radio": ["lte", "lte", "gsm"], "a": [1.0, 2, 3]}
    )
    right = pd.DataFrame({"h3": np.array([1], np.uint64), "radio": ["lte"], "b": [9.0]})
    keys = ["h3", "radio"]
    pd.testing.assert_frame_equal(
        outer_join(left, right, keys), left.merge(right, on=keys, how="outer")
    )


@pytest.mark.parametrize("seed", range(4))
def test_grid_rows_and_spread_are_a_left_merge_onto_the_grid(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cells = np.unique(rng.integers(0, 60, 30).astype(np.uint64))
    carriers = pd.Index(["MobiFone", "VinaPhone", "Viettel"], dtype=object)
    # Rows on and off the grid (cells and a carrier it does not hold), keys unique.
    table = pd.DataFrame(
        {
            "h3": rng.integers(0, 80, 120).astype(np.uint64),
            "carrier": rng.choice([*carriers, "Gmobile"], 120),
        }
    ).drop_duplicates(["h3", "carrier"])
    table["dbm"] = rng.normal(-100, 10, len(table))
    table["radio"] = rng.choice(["lte", "umts"], len(table)).astype(object)
    grid = pd.DataFrame(
        {"h3": np.repeat(cells, len(carriers)), "carrier": np.tile(carriers, len(cells))}
    )
    expected = grid.merge(table, on=["h3", "carrier"], how="left")
    rows = grid_rows(table, cells, carriers)
    size = len(grid)
    np.testing.assert_array_equal(
        spread(table, "dbm", rows, size, np.nan), expected["dbm"].to_numpy(float)
    )
    radio = spread(table, "radio", rows, size, None)
    assert radio.tolist() == [None if pd.isna(v) else v for v in expected["radio"]]


def test_grid_rows_of_an_empty_grid_are_none() -> None:
    table = pd.DataFrame({"h3": np.array([1, 2], np.uint64), "carrier": ["Viettel"] * 2})
    source, target = grid_rows(table, np.empty(0, np.uint64), pd.Index(["Viettel"]))
    assert source.size == 0 and target.size == 0


def _within(polygons: np.ndarray, x: np.ndarray, y: np.ndarray) -> list[tuple[int, int]]:
    point, polygon = shapely.STRtree(polygons).query(shapely.points(x, y), predicate="within")
    return sorted(zip(point.tolist(), polygon.tolist(), strict=True))


@pytest.mark.parametrize("points", [5004, 3])  # many points (buckets), few (a tree)
def test_points_in_polygons_agrees_with_shapely_within(points: int) -> None:
    # Concave, holed and overlapping polygons; points inside, outside, on an
    # edge and on a shared edge.
    ring = shapely.box(0, 0, 4, 4).difference(shapely.box(1, 1, 3, 3))
    polygons = np.array(
        [
            ring,
            shapely.box(2, 2, 6, 3),
            shapely.Polygon([(5, 0), (9, 0), (5, 4)]),
            shapely.box(10, 10, 10.1, 10.1),
        ]
    )
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-1, 11, 5000), [0.0, 2.0, 4.0, 10.05]])
    y = np.concatenate([rng.uniform(-1, 11, 5000), [2.0, 2.5, 2.5, 10.05]])
    x, y = x[-points:], y[-points:]
    point, polygon = points_in_polygons(polygons, x, y)
    assert sorted(zip(point.tolist(), polygon.tolist(), strict=True)) == _within(polygons, x, y)


@pytest.mark.parametrize("seed", range(3))
def test_points_in_random_villages_agree_with_shapely_within(seed: int) -> None:
    # Voronoi villages (as the province benchmark draws them), some empty.
    rng = np.random.default_rng(seed)
    centres = shapely.MultiPoint(rng.uniform(0, 10, (40, 2)))
    box = shapely.box(0, 0, 10, 10)
    polygons = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(centres, extend_to=box)), box
    )
    polygons = np.append(polygons, shapely.Polygon())
    x, y = rng.uniform(-1, 11, 20_000), rng.uniform(-1, 11, 20_000)
    point, polygon = points_in_polygons(polygons, x, y)
    assert sorted(zip(point.tolist(), polygon.tolist(), strict=True)) == _within(polygons, x, y)
