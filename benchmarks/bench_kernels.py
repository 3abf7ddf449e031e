"""coverage's kernels beside the library calls they replace: times, same answers.

Readings in villages: ``coverage._kernels.points_in_polygons`` buckets the points on a grid of
about one village's size and tests each village against the points of the
buckets its box covers (``shapely.contains_xy``, chunks of villages on
threads). The review asked whether a bulk ``STRtree.query(predicate="within")``
or ``geopandas.sjoin`` does as well; this script times the three on the
province benchmark's geometry (Voronoi villages over a square, readings in
clusters of σ = 400 m around the village centres), checks that they find
the same pairs, and prints the times.

The estimates' join: ``coverage._kernels.outer_join`` against
``DataFrame.merge(how="outer")`` on (h3, carrier, radio), with as many
predicted rows as the analysis gives at that scale (~22,000 res-10
cells per 0.05, three carriers, two radios) and a fifth of them measured.
It never asserts.

Scales as ``bench_province.py``: 0.05 = 190 villages and 250,000 readings,
0.2 = 760 and 1,000,000, 1.0 = the province (3,800 and 5,000,000).

Run: ``.venv/bin/python benchmarks/bench_kernels.py --scale 0.2``
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from coverage._kernels import outer_join, points_in_polygons
from geodata.threads import worker_count

FULL = {"area_km2": 14_000, "villages": 3_800, "readings": 5_000_000}
ORIGIN = (480_000.0, 2_540_000.0)  # UTM 48N, over Tuyên Quang
TO_WGS84 = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)


def synthesise(scale: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Village polygons (EPSG:4326) and reading lon/lat, as bench_province draws them."""
    side = np.sqrt(FULL["area_km2"] * scale) * 1000.0
    x0, y0 = ORIGIN
    n_villages = max(int(FULL["villages"] * scale), 4)
    centres = rng.uniform([x0, y0], [x0 + side, y0 + side], (n_villages, 2))
    box = shapely.box(x0, y0, x0 + side, y0 + side)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(centres), extend_to=box)
    polygons = gpd.GeoSeries(
        shapely.intersection(shapely.get_parts(cells), box), crs="EPSG:32648"
    ).to_crs("EPSG:4326")
    n_readings = int(FULL["readings"] * scale)
    near = rng.integers(0, n_villages, n_readings)
    rx = centres[near, 0] + rng.normal(0, 400, n_readings)
    ry = centres[near, 1] + rng.normal(0, 400, n_readings)
    lon, lat = TO_WGS84.transform(rx, ry)
    return polygons.to_numpy(), np.asarray(lon), np.asarray(lat)


def kernel(polygons: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    point, polygon = points_in_polygons(polygons, x, y)
    return np.stack([point, polygon])


def strtree(polygons: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    point, polygon = shapely.STRtree(polygons).query(shapely.points(x, y), predicate="within")
    return np.stack([point, polygon])


def sjoin(polygons: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:4326")
    villages = gpd.GeoDataFrame(geometry=polygons, crs="EPSG:4326")
    joined = gpd.sjoin(points, villages, how="inner", predicate="within")
    return np.stack([joined.index.to_numpy(), joined["index_right"].to_numpy()])


def best_of(func, *args, repeat: int) -> tuple[float, np.ndarray]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def pairs(found: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(found[0].tolist(), found[1].tolist(), strict=True))


def estimate_tables(scale: float, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predicted and measured rows per (cell, carrier, radio), as signal_estimates joins them."""
    cells = np.sort(rng.choice(2**40, int(22_000 * scale / 0.05), replace=False)).astype(np.uint64)
    keys = pd.MultiIndex.from_product(
        [cells, ["MobiFone", "VinaPhone", "Viettel"], ["lte", "umts"]],
        names=["h3", "carrier", "radio"],
    ).to_frame(index=False)
    left = keys.assign(
        carrier=keys["carrier"].astype("string"),
        calibrated_dbm=rng.normal(-100, 10, len(keys)),
        sigma_db=8.0,
        p_predicted=rng.random(len(keys)),
    )
    right = keys.sample(frac=0.2, random_state=1).sort_index()
    right = right.assign(
        count=rng.integers(3, 50, len(right)),
        median_dbm=rng.normal(-100, 10, len(right)),
        p_measured=rng.random(len(right)),
    )
    return left, right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05, help="1.0 = the whole province")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method; best is kept")
    args = parser.parse_args()
    polygons, x, y = synthesise(args.scale, np.random.default_rng(0))
    print(
        f"scale {args.scale}: {len(polygons):,} villages, {len(x):,} readings, "
        f"{worker_count()} threads for the kernel"
    )
    baseline = None
    results = {}
    for name, func in (
        ("grid buckets (coverage._kernels)", kernel),
        ('STRtree.query(predicate="within")', strtree),
        ("geopandas.sjoin", sjoin),
    ):
        seconds, found = best_of(func, polygons, x, y, repeat=args.repeat)
        results[name] = pairs(found)
        baseline = baseline or seconds
        print(
            f"{name:<36} {seconds:7.3f} s   ×{seconds / baseline:5.1f}   {found.shape[1]:,} pairs"
        )
    first = next(iter(results.values()))
    print("same pairs:", all(found == first for found in results.values()))

    left, right = estimate_tables(args.scale, np.random.default_rng(1))
    keys = ["h3", "carrier", "radio"]
    print(f"estimates' join: {len(left):,} predicted rows, {len(right):,} measured")
    ours, joined = best_of(outer_join, left, right, keys, repeat=args.repeat)
    theirs, merged = best_of(
        lambda a, b: a.merge(b, on=keys, how="outer"), left, right, repeat=args.repeat
    )
    print(f"{'outer_join (coverage._kernels)':<36} {ours:7.3f} s   ×{1.0:5.1f}")
    label = 'DataFrame.merge(how="outer")'
    print(f"{label:<36} {theirs:7.3f} s   ×{theirs / ours:5.1f}")
    try:
        pd.testing.assert_frame_equal(joined, merged)
        print("same table: True")
    except AssertionError as error:
        print("same table: False", str(error).splitlines()[0])


if __name__ == "__main__":
    main()
