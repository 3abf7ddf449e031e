"""The whole country: the single-process analysis beside the tiled one on dask.distributed.

Issue 15's benchmark. A synthetic Vietnam, written here and independent of
the analysis: at full scale 60,000 villages in 3,321 communes and 34
provinces, 100,000 sites, 100 M readings and a 30 m DEM over ~330,000 km².
``--scale S`` shrinks every count and the area together: the country is the
part of Vietnam's outline (ichnaea's buffered polygon, shrunk back) within a
disc around Tuyên Quang holding S x 330,000 km² (0.02: 6,600 km², 1,200
villages, 2,000 sites, 2 M readings; 0.05: 16,500 km², 3,000 villages,
5,000 sites, 5 M readings). In it:

- provinces and communes are Voronoi cells of random seeds; villages cluster
  around their commune's centre, their polygons the Voronoi cells of their
  centres clipped to the commune (the approximation DESIGN.md names);
- roads: a minimum spanning tree over the communes' centres (on their
  Delaunay graph), and a spur from each village to its commune's centre;
- sites: 65 % in the villages (ranges ~1-8 km), 35 % along the roads (3-15
  km), 8 % of them NR 3.5 GHz (0.5-1.5 km); carriers Viettel, VinaPhone,
  MobiFone;
- readings: half along the roads, half in the villages, over twelve months;
  signal by a log-distance law from the nearest site of the reading's
  carrier with 8 dB shadowing, no service below -121 dBm or beyond reach;
- terrain: smoothed noise with ridges, one GeoTIFF in UTM 48N.

For each S, in fresh processes (so each peak is its own, ru_maxrss):

1. the single-process ``coverage.pipeline.analyze`` on the readings read
   back from the dataset;
2. ``coverage.tiles.analyze_tiled`` on a 2-worker ``LocalCluster`` (one
   thread each), its readings read per tile from the GeoParquet dataset
   that ``geodata.readings_dataset.write_readings_dataset`` wrote;

then prints the wall times, the peak memory per worker and of the single
process, the results' equality (verdicts, households without signal, dead
zones, max |Δ margin_db|), the per-tile times (dask's task stream), and a
projection of the full-scale wall time on 1, 16 and 64 workers. With two
or more S the figures are printed side by side at the end.

Measured here (2 cores shared with other sessions, load average 6-11 during
the runs, so the wall times are long and noisy; S = 0.05 did not fit, and
a first tiled run at 0.02 passed its 30 min timeout at load 10-15):

=====  ========  =========  ========  ==========  =======  ===============  =====
scale  villages   readings  single s  single MiB  tiled s  worker peak MiB  tiles
=====  ========  =========  ========  ==========  =======  ===============  =====
0.005       300    500,000      91.8       1,469    165.4         887, 846      4
0.01        600  1,000,000     185.6       2,332    337.4       1,055, 1,126    7
0.02      1,200  2,000,000     497.8       4,239    871.6       1,549, 1,645   16
=====  ========  =========  ========  ==========  =======  ===============  =====

(single at 0.02 alone: 200.6 s, peak 3,947 MiB at load ~4.) Worker peaks
grow with S (887 -> 1,126 -> 1,645 MiB). The tiled results from the
dataset differed from the single run's in 1 village of 300, 600 and 1,200,
households without signal 5,399 vs 5,365, 12,002 vs 12,061, 20,953 vs
20,906, max |Δ margin_db| 22.4, 13.6, 42.3 dB; given the same readings as a
DataFrame, the tiled run at 0.005 was identical (0 verdicts, 0 households,
9,219 = 9,219 dead zones, max |Δ margin_db| 0): the differences come from
the per-tile silent-gap inference of the dataset path (coverage.tiles says
so). survey_tile was 90 % of the tiles' time.

Prints, never asserts. Run:
``PYTHONPATH=. .venv/bin/python benchmarks/bench_national.py --scale 0.02 0.05``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial import Delaunay, cKDTree

from geodata.readings import validate_readings
from geodata.readings_dataset import (
    dataset_files,
    read_readings_dataset,
    write_readings_dataset,
)
from geodata.regions import country_regions
from geodata.sites import normalise_sites
from geodata.villages import normalise_villages

FULL = {
    "area_km2": 330_000,
    "provinces": 34,
    "communes": 3_321,
    "villages": 60_000,
    "sites": 100_000,
    "readings": 100_000_000,
}
METRIC = "EPSG:32648"  # UTM 48N: the whole outline lies within 3° of its meridian but its east
TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC, always_xy=True)
TO_WGS84 = Transformer.from_crs(METRIC, "EPSG:4326", always_xy=True)
CENTRE = (105.2, 21.9)  # Tuyên Quang: the small countries are the land around it
CARRIERS = np.array([4, 2, 1])  # Viettel, VinaPhone, MobiFone
CARRIER_SHARE = np.array([0.45, 0.30, 0.25])
FIRST_DAY = pd.Timestamp("2025-06-01", tz="UTC")
DAYS = 365
DEM_PIXEL_M = 30.0


def _pixels(path: Path) -> int:
    with rasterio.open(path) as src:
        return int(src.width * src.height)


# -- the country --------------------------------------------------------------------------------


def outline() -> shapely.Geometry:
    """Vietnam in UTM 48N: ichnaea's polygon is buffered by 0.5°, so shrink it by as much."""
    buffered = country_regions()["VN"]
    land = buffered.buffer(-0.5)  # undoes the file's own buffer, in the file's degrees
    return shapely.transform(land, lambda xy: np.column_stack(TO_METRIC.transform(*xy.T)))


def country(scale: float) -> shapely.Geometry:
    """The part of the outline within the disc around Tuyên Quang of S x 330,000 km²."""
    land = outline()
    if scale >= 1:
        return land
    target = scale * FULL["area_km2"] * 1e6
    centre = shapely.Point(TO_METRIC.transform(*CENTRE))
    low, high = 1_000.0, 2_000_000.0
    for _ in range(40):  # bisection on the radius
        radius = (low + high) / 2
        if shapely.intersection(land, centre.buffer(radius, 64)).area < target:
            low = radius
        else:
            high = radius
    return shapely.intersection(land, centre.buffer(high, 64))


def points_in(region: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform points in ``region`` (rejection from its bounding box)."""
    west, south, east, north = region.bounds
    shapely.prepare(region)
    found: list[np.ndarray] = []
    have = 0
    while have < n:  # a few rounds, each vectorised
        xy = rng.uniform([west, south], [east, north], (2 * (n - have) + 16, 2))
        xy = xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]
        found.append(xy)
        have += len(xy)
    return np.concatenate(found)[:n]


def voronoi(seeds: np.ndarray, region: shapely.Geometry) -> np.ndarray:
    """Voronoi cells of ``seeds``, in their order, clipped to ``region``."""
    cells = shapely.voronoi_polygons(
        shapely.MultiPoint(seeds), extend_to=shapely.box(*region.bounds), ordered=True
    )
    return shapely.intersection(shapely.get_parts(cells), region)


def clustered(
    centres: np.ndarray,
    spread: np.ndarray,
    n: int,
    region: shapely.Geometry,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points scattered (normal, ``spread`` m) around random ``centres``, in ``region``."""
    shapely.prepare(region)
    points: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    have = 0
    while have < n:
        owner = rng.integers(0, len(centres), n - have + 16)
        xy = centres[owner] + rng.normal(0, 1, (len(owner), 2)) * spread[owner, None]
        keep = shapely.contains_xy(region, xy[:, 0], xy[:, 1])
        points.append(xy[keep])
        owners.append(owner[keep])
        have += int(keep.sum())
    return np.concatenate(points)[:n], np.concatenate(owners)[:n]


def roads(
    commune_xy: np.ndarray, village_xy: np.ndarray, village_commune: np.ndarray
) -> np.ndarray:
    """Road segments ``(x0, y0, x1, y1)``: an MST over the communes, spurs to the villages."""
    if len(commune_xy) >= 3:
        triangles = Delaunay(commune_xy).simplices
        edges = np.unique(
            np.sort(
                np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [0, 2]]]),
                axis=1,
            ),
            axis=0,
        )
    else:
        edges = np.array([[0, 1]])
    length = np.hypot(*(commune_xy[edges[:, 0]] - commune_xy[edges[:, 1]]).T)
    graph = coo_matrix((length, (edges[:, 0], edges[:, 1])), shape=(len(commune_xy),) * 2)
    tree = minimum_spanning_tree(graph).tocoo()
    trunk = np.column_stack([commune_xy[tree.row], commune_xy[tree.col]])
    spurs = np.column_stack([village_xy, commune_xy[village_commune]])
    return np.concatenate([trunk, spurs])


def along(segments: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points on the segments (uniform by length), 30 m off the centre line."""
    length = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    pick = rng.choice(len(segments), n, p=length / length.sum())
    t = rng.uniform(0, 1, n)[:, None]
    xy = segments[pick, :2] + t * (segments[pick, 2:] - segments[pick, :2])
    return xy + rng.normal(0, 30, (n, 2))


class Terrain:
    """The DEM in memory, to shadow the synthetic readings (this module's own law)."""

    def __init__(self, dem: np.ndarray, west: float, north: float) -> None:
        self.dem, self.west, self.north = dem, west, north

    def height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        col = np.clip(((x - self.west) / DEM_PIXEL_M).astype(int), 0, self.dem.shape[1] - 1)
        row = np.clip(((self.north - y) / DEM_PIXEL_M).astype(int), 0, self.dem.shape[0] - 1)
        return self.dem[row, col]

    def obstruction_m(self, site: np.ndarray, mast: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """How far the terrain rises above the line from mast top to phone (0 when clear)."""
        top = self.height(site[:, 0], site[:, 1]) + mast
        phone = self.height(xy[:, 0], xy[:, 1]) + 1.5
        worst = np.zeros(len(xy), dtype="float32")
        for t in np.linspace(0.1, 0.9, 9):  # nine samples along each path
            ground = self.height(
                site[:, 0] + t * (xy[:, 0] - site[:, 0]), site[:, 1] + t * (xy[:, 1] - site[:, 1])
            )
            worst = np.maximum(worst, ground - (top + t * (phone - top)))
        return worst


def terrain(region: shapely.Geometry, out: Path, rng: np.random.Generator) -> tuple[Path, Terrain]:
    """A 30 m DEM over the region's bounding box: smoothed noise, 100-1,900 m, ridged."""
    west, south, east, north = region.bounds
    width = int(np.ceil((east - west) / DEM_PIXEL_M)) + 2
    height = int(np.ceil((north - south) / DEM_PIXEL_M)) + 2
    spectrum = np.fft.rfft2(rng.standard_normal((height, width)).astype("float32"))
    fy = np.fft.fftfreq(height).astype("float32")[:, None]
    fx = np.fft.rfftfreq(width).astype("float32")[None, :]
    spectrum /= (1 + np.hypot(fy, fx) * 400) ** 2  # features of ~10 km
    noise = np.fft.irfft2(spectrum, s=(height, width)).astype("float32")
    del spectrum
    noise = (noise - noise.min()) / np.ptp(noise)
    dem = (100 + 1800 * (1 - np.abs(2 * noise - 1)) ** 1.5).astype("float32")  # ridges
    path = out / "dem.tif"
    transform = from_origin(west - DEM_PIXEL_M, north + DEM_PIXEL_M, DEM_PIXEL_M, DEM_PIXEL_M)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="float32",
        crs=METRIC,
        transform=transform,
        tiled=True,
        compress="deflate",
        predictor=3,
        BIGTIFF="IF_SAFER",
    ) as dst:
        dst.write(dem, 1)
    return path, Terrain(dem, west - DEM_PIXEL_M, north + DEM_PIXEL_M)


def sites_for(
    village_xy: np.ndarray,
    segments: np.ndarray,
    n: int,
    region: shapely.Geometry,
    ground: Terrain,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """``n`` sites: 65 % in the villages (the low ones first), 35 % along the roads."""
    in_villages = round(0.65 * n)
    lowland = np.exp(-ground.height(village_xy[:, 0], village_xy[:, 1]) / 300.0)
    towns = village_xy[rng.choice(len(village_xy), in_villages, p=lowland / lowland.sum())]
    xy_v, _ = clustered(towns, np.full(len(towns), 1_200.0), in_villages, region, rng)
    xy_r = along(segments, n - in_villages, rng)
    xy = np.concatenate([xy_v, xy_r])
    rural = np.r_[np.zeros(in_villages, bool), np.ones(n - in_villages, bool)]
    reach = np.where(
        rural,
        np.clip(rng.lognormal(np.log(7_000), 0.35, n), 3_000, 15_000),
        np.clip(rng.lognormal(np.log(3_000), 0.5, n), 1_000, 8_000),
    )
    nr = rng.uniform(0, 1, n) < 0.08
    reach = np.where(nr, rng.uniform(500, 1_500, n), reach)
    lon, lat = TO_WGS84.transform(xy[:, 0], xy[:, 1])
    return normalise_sites(
        pd.DataFrame(
            {
                "radio": np.where(nr, "NR", "LTE"),
                "mcc": 452,
                "net": rng.choice(CARRIERS, n, p=CARRIER_SHARE),
                "lon": lon,
                "lat": lat,
                "site_id": [f"s{i:06d}" for i in range(n)],
                "height_m": rng.uniform(20, 45, n).round(0),
                "eirp_dbm": rng.uniform(58, 64, n).round(1),
                "freq_mhz": np.where(
                    nr, 3500.0, rng.choice([900.0, 1800.0, 2100.0], n, p=[0.2, 0.6, 0.2])
                ),
                "range": reach.round(0),
            }
        )
    )


def readings_for(
    village_xy: np.ndarray,
    segments: np.ndarray,
    sites: pd.DataFrame,
    n: int,
    region: shapely.Geometry,
    ground: Terrain,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """``n`` validated readings: half on the roads, half in the villages."""
    on_roads = n // 2
    xy_v, _ = clustered(village_xy, np.full(len(village_xy), 350.0), n - on_roads, region, rng)
    xy = np.concatenate([along(segments, on_roads, rng), xy_v])
    mnc = rng.choice(CARRIERS, n, p=CARRIER_SHARE)
    sx, sy = TO_METRIC.transform(sites["lon"].to_numpy(), sites["lat"].to_numpy())
    site_xy = np.column_stack([sx, sy])
    dbm = np.full(n, -140.0)
    for carrier in CARRIERS:  # three carriers, each a KD-tree query over its readings
        mine = sites["mnc"].to_numpy() == carrier
        rows = mnc == carrier
        distance, nearest = cKDTree(site_xy[mine]).query(xy[rows])
        eirp = sites["eirp_dbm"].to_numpy(float)[mine][nearest]
        reach = sites["range_m"].to_numpy(float)[mine][nearest]
        mast = sites["height_m"].to_numpy(float)[mine][nearest]
        blocked = ground.obstruction_m(site_xy[mine][nearest], mast, xy[rows])
        km = np.maximum(distance, 30.0) / 1000
        level = eirp - 31 - 120 - 35 * np.log10(km) + rng.normal(0, 8, rows.sum())
        level -= np.clip(0.12 * blocked, 0, 35)  # ~6 dB behind a 50 m crest, at most 35
        dbm[rows] = np.where(distance > 1.5 * reach, -140.0, level)
    lost = (dbm < -121) | (rng.uniform(0, 1, n) < 0.02)
    lon, lat = TO_WGS84.transform(xy[:, 0], xy[:, 1])
    seconds = rng.integers(0, DAYS * 86_400, n)
    raw = pd.DataFrame(
        {
            "time": FIRST_DAY + pd.to_timedelta(seconds, unit="s"),
            "lat": lat,
            "lon": lon,
            "accuracy_m": rng.uniform(3, 30, n).round(1),
            "mcc": 452,
            "mnc": mnc,
            "radio": "lte",
            "signal_dbm": np.where(lost, np.nan, np.clip(dbm, -140, -44).round(0)),
            "no_service": lost,
            "device": pd.array(rng.integers(0, max(n // 5_000, 20), n).astype(str), dtype="str"),
            "source": pd.array(np.full(n, "bench"), dtype="str"),
        }
    )
    return validate_readings(raw).valid.reset_index(drop=True)


def synthesise(scale: float, out: Path, rng: np.random.Generator) -> dict[str, Any]:
    """Write the country's villages, sites, DEM and readings dataset into ``out``."""
    counts = {k: max(round(v * scale), 1) for k, v in FULL.items() if k != "area_km2"}
    counts["provinces"] = max(counts["provinces"], 2)
    counts["communes"] = max(counts["communes"], 2 * counts["provinces"])
    region = country(scale)
    provinces = points_in(region, counts["provinces"], rng)
    commune_xy = points_in(region, counts["communes"], rng)
    commune_province = cKDTree(provinces).query(commune_xy)[1]
    communes = voronoi(commune_xy, region)
    spread = np.sqrt(shapely.area(communes)) / 4
    village_xy, _ = clustered(commune_xy, spread, counts["villages"], region, rng)
    village_commune = cKDTree(commune_xy).query(village_xy)[1]  # the Voronoi cell it lies in
    polygons = shapely.intersection(voronoi(village_xy, region), communes[village_commune])
    kept = ~shapely.is_empty(polygons) & np.isin(shapely.get_type_id(polygons), [3, 6])
    polygons, village_xy, village_commune = polygons[kept], village_xy[kept], village_commune[kept]
    n_villages = len(polygons)
    clon, clat = TO_WGS84.transform(village_xy[:, 0], village_xy[:, 1])
    villages = normalise_villages(
        gpd.GeoDataFrame(
            {
                "id": [f"v{i:06d}" for i in range(n_villages)],
                "name": [f"Thôn {i}" for i in range(n_villages)],
                "commune": [f"Xã {c}" for c in village_commune],
                "province": [f"Tỉnh {p}" for p in commune_province[village_commune]],
                "households": np.clip(rng.lognormal(np.log(110), 0.5, n_villages), 15, 900).astype(
                    int
                ),
                "centre_lon": clon,
                "centre_lat": clat,
            },
            geometry=polygons,
            crs=METRIC,
        )
    )
    segments = roads(commune_xy, village_xy, village_commune)
    dem, ground = terrain(region, out, rng)
    sites = sites_for(village_xy, segments, counts["sites"], region, ground, rng)
    readings = readings_for(village_xy, segments, sites, counts["readings"], region, ground, rng)
    del ground
    villages.to_parquet(out / "villages.parquet")
    sites.to_parquet(out / "sites.parquet")
    start = time.perf_counter()
    write_readings_dataset(readings, out / "readings")
    written = time.perf_counter() - start
    files = dataset_files(out / "readings")
    return {
        "scale": scale,
        "area_km2": region.area / 1e6,
        "provinces": counts["provinces"],
        "communes": counts["communes"],
        "villages": n_villages,
        "sites": int(sites["site_id"].nunique()),
        "readings": len(readings),
        "road_km": float(
            np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1]).sum() / 1e3
        ),
        "dem_mpx": _pixels(dem) / 1e6,
        "dataset_files": len(files),
        "dataset_partitions": len({f.parent.parent for f in files}),
        "dataset_mb": sum(f.stat().st_size for f in files) / 2**20,
        "dataset_write_s": written,
    }


# -- the runs -----------------------------------------------------------------------------------


def peak_mib() -> float:
    """This process's peak resident memory so far (ru_maxrss), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_inputs(work: Path) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    return gpd.read_parquet(work / "villages.parquet"), pd.read_parquet(work / "sites.parquet")


def save_result(result: Any, work: Path, name: str) -> None:
    """What the comparison needs of an AnalysisResult, as Parquet."""
    villages = pd.DataFrame(result.villages.drop(columns="geometry"))
    villages[["id", "verdict", "households_without_signal"]].to_parquet(
        work / f"{name}_villages.parquet"
    )
    result.cells[["h3", "carrier", "margin_db"]].to_parquet(work / f"{name}_cells.parquet")
    zones = pd.DataFrame({"area": result.dead_zones.to_crs(METRIC).area.to_numpy()})
    zones.to_parquet(work / f"{name}_zones.parquet")


def run_single(work: Path) -> dict[str, Any]:
    """The single-process analysis, in this (fresh) process."""
    from coverage.pipeline import analyze

    villages, sites = load_inputs(work)
    readings = read_readings_dataset(work / "readings")
    before = peak_mib()
    start = time.perf_counter()
    result = analyze(villages, sites, readings, dem=work / "dem.tif")
    wall = time.perf_counter() - start
    save_result(result, work, "single")
    return {"wall_s": wall, "peak_mib": peak_mib(), "inputs_mib": before}


def _worker_peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_tiled(work: Path, workers: int) -> dict[str, Any]:
    """The tiled analysis on a fresh ``LocalCluster`` of ``workers`` processes, one thread each."""
    from distributed import Client, LocalCluster, get_task_stream

    from coverage.tiles import analyze_tiled

    villages, sites = load_inputs(work)
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        before = client.run(_worker_peak)
        start = time.perf_counter()
        with get_task_stream(client) as stream:
            result = analyze_tiled(
                villages, sites, work / "readings", dem=work / "dem.tif", client=client
            )
        wall = time.perf_counter() - start
        peaks = client.run(_worker_peak)
    save_result(result, work, "tiled")
    tasks = pd.DataFrame(
        [
            {
                "key": str(task["key"]),
                "prefix": str(task["key"]).strip("('\"").split("-")[0],
                "seconds": sum(
                    s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute"
                ),
                "worker": task["worker"],
            }
            for task in stream.data
        ]
    )
    per_prefix = tasks.groupby("prefix")["seconds"].agg(["count", "sum", "median", "max"])
    # How long some task was computing: the union of the compute intervals.
    spans = sorted(
        (s["start"], s["stop"])
        for task in stream.data
        for s in task["startstops"]
        if s["action"] == "compute"
    )
    busy, reach = 0.0, float("-inf")
    for begin, end in spans:  # a loop over tasks (a few per tile)
        if end > reach:
            busy += end - max(begin, reach)
            reach = end
    return {
        "wall_s": wall,
        "busy_s": busy,
        "worker_peak_mib": {str(k): v for k, v in peaks.items()},
        "worker_start_mib": {str(k): v for k, v in before.items()},
        "client_peak_mib": peak_mib(),
        "tasks": per_prefix.reset_index().to_dict("records"),
    }


def compare(work: Path) -> dict[str, Any]:
    """Verdicts, households without signal, dead zones and margins: single against tiled."""
    one = pd.read_parquet(work / "single_villages.parquet").set_index("id")
    two = pd.read_parquet(work / "tiled_villages.parquet").set_index("id").reindex(one.index)
    cells_one = pd.read_parquet(work / "single_cells.parquet")
    cells_two = pd.read_parquet(work / "tiled_cells.parquet")
    cells = cells_one.merge(
        cells_two, on=["h3", "carrier"], how="outer", suffixes=("_1", "_2"), indicator=True
    )
    both = cells["_merge"] == "both"
    margin = (cells["margin_db_1"] - cells["margin_db_2"]).abs()[both]
    zones_one = pd.read_parquet(work / "single_zones.parquet")
    zones_two = pd.read_parquet(work / "tiled_zones.parquet")
    households = (one["households_without_signal"] - two["households_without_signal"]).abs()
    return {
        "villages": len(one),
        "verdicts_differ": int((one["verdict"] != two["verdict"]).sum()),
        "verdict_counts": one["verdict"].value_counts().to_dict(),
        "households_without_signal": [
            float(one["households_without_signal"].sum()),
            float(two["households_without_signal"].sum()),
        ],
        "households_max_abs_diff": float(households.max()),
        "dead_zones": [len(zones_one), len(zones_two)],
        "dead_zone_km2": [
            float(zones_one["area"].sum() / 1e6),
            float(zones_two["area"].sum() / 1e6),
        ],
        "cells": [len(cells_one), len(cells_two)],
        "cells_only_one_side": int((~both).sum()),
        "margin_db_max_abs_diff": float(np.nanmax(margin.to_numpy()))
        if both.any()
        else float("nan"),
    }


def tile_task(tiled: dict[str, Any]) -> dict[str, Any] | None:
    """The tiles' tasks taken together: every task prefix run once per tile.

    ``analyze_tiled`` runs a few tasks per tile (reading, survey, analysis);
    a tile's time is their sum: ``median`` and ``max`` add the prefixes'
    medians and maxima (the max an upper bound: the longest of each may be
    different tiles).
    """
    tasks = tiled.get("tasks") or []
    if not tasks:
        return None
    count = max(t["count"] for t in tasks)
    per_tile = [t for t in tasks if t["count"] == count]
    return {
        "prefix": "+".join(t["prefix"] for t in per_tile),
        "count": count,
        "sum": sum(t["sum"] for t in per_tile),
        "median": sum(t["median"] for t in per_tile),
        "max": sum(t["max"] for t in per_tile),
    }


def projection(info: dict[str, Any], tiled: dict[str, Any], workers: int) -> list[str]:
    """Full-scale wall time on 1, 16 and 64 workers from this run's per-tile times."""
    tile = tile_task(tiled)
    if tile is None:
        return ["projection: no task times recorded"]
    factor = FULL["area_km2"] / info["area_km2"]
    tiles_full = tile["count"] * factor
    work_full = tile["sum"] * factor
    # What did not run in tiles: the client's tiling, fitting, stitching, sending:
    # the wall time while no task was computing, assumed to grow with the area.
    serial_here = max(tiled["wall_s"] - tiled["busy_s"], 0.0)
    serial_full = serial_here * factor
    scheduler_s = 0.001 * tiles_full * 3  # ~1 ms a task, 3 tasks a tile, on the scheduler
    lines = [
        f"projection to full scale (x{factor:,.0f} the area): {tiles_full:,.0f} tiles "
        f"({tile['prefix']}) of median {tile['median']:.2f} s (max <= {tile['max']:.2f} s), "
        f"{work_full / 3600:,.1f} h of tile work; the serial part {serial_here:.1f} s here "
        f"-> {serial_full / 60:,.1f} min",
    ]
    for n in (1, 16, 64):
        wall = max(work_full / n, tile["max"]) + serial_full + scheduler_s
        lines.append(f"  {n:>3} workers: ~{wall / 3600:6.2f} h  ({wall / 60:,.0f} min)")
    lines.append(
        "  assumes: tiles per km² and seconds per tile as here (the densities of villages,\n"
        "  sites and readings are the same at every S); tiles packed perfectly, bounded below\n"
        "  by the longest tile; the serial part (the wall time while no task computed) grows\n"
        "  with the area and does not parallelise; ~1 ms of scheduler time a task, 3 tasks a\n"
        "  tile; each worker reads its tiles' files as fast as this machine's disk (a shared\n"
        f"  file system adds {info['dataset_mb'] * factor / 1024:,.0f} GiB / its bandwidth, once)"
    )
    return lines


def start_child(mode: str, work: Path, workers: int) -> subprocess.Popen[str]:
    """Start one mode in a fresh Python process (its own ru_maxrss)."""
    command = [sys.executable, __file__, "--child", mode, "--work", str(work)]
    return subprocess.Popen(
        [*command, "--workers", str(workers)], stdout=subprocess.PIPE, text=True
    )


def finish_child(process: subprocess.Popen[str], timeout_s: float) -> dict[str, Any] | None:
    """The child's JSON answer, or None when it ran out of time or failed."""
    try:
        out, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None
    lines = [row for row in out.splitlines() if row.startswith("RESULT ")]
    if process.returncode != 0 or not lines:
        return None
    answer: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return answer


def child(mode: str, work: Path, workers: int, timeout_s: float) -> dict[str, Any] | None:
    """Run one mode in a fresh Python process; its JSON answer, or None on a timeout."""
    return finish_child(start_child(mode, work, workers), timeout_s)


def report(
    info: dict[str, Any],
    single: dict[str, Any] | None,
    tiled: dict[str, Any] | None,
    same: dict[str, Any] | None,
    workers: int,
    timeout_s: float,
) -> None:
    print(
        f"\nscale {info['scale']}: {info['area_km2']:,.0f} km², {info['provinces']} provinces, "
        f"{info['communes']:,} communes, {info['villages']:,} villages, {info['sites']:,} sites, "
        f"{info['readings']:,} readings, {info['road_km']:,.0f} km of roads, "
        f"DEM {info['dem_mpx']:,.1f} Mpx"
    )
    print(
        f"readings dataset: {info['dataset_files']:,} files in "
        f"{info['dataset_partitions']:,} res-5 cells, {info['dataset_mb']:,.0f} MiB, "
        f"written in {info['dataset_write_s']:.1f} s"
    )
    if single is None:
        print(f"single process: did not finish within {timeout_s:,.0f} s")
    else:
        print(
            f"single process (coverage.pipeline.analyze): {single['wall_s']:8.1f} s, "
            f"peak {single['peak_mib']:,.0f} MiB (inputs loaded: {single['inputs_mib']:,.0f} MiB)"
        )
    if tiled is None:
        print("tiled: coverage.tiles not available on this branch, or it timed out")
        return
    peaks = ", ".join(f"{v:,.0f}" for v in tiled["worker_peak_mib"].values())
    print(
        f"tiled on {workers} workers (coverage.tiles.analyze_tiled): {tiled['wall_s']:8.1f} s, "
        f"peak per worker {peaks} MiB; client {tiled['client_peak_mib']:,.0f} MiB"
    )
    if single is not None:
        print(f"  speed-up {single['wall_s'] / tiled['wall_s']:.2f}x")
    for task in tiled["tasks"]:
        print(
            f"  tasks {task['prefix']:<28} {task['count']:>5} x, {task['sum']:8.1f} s in all, "
            f"median {task['median']:6.2f} s, max {task['max']:6.2f} s"
        )
    if same is not None:
        without, zones, km2, cells = (
            same["households_without_signal"],
            same["dead_zones"],
            same["dead_zone_km2"],
            same["cells"],
        )
        print(
            f"equality: verdicts differ in {same['verdicts_differ']} of {same['villages']:,} "
            f"villages ({same['verdict_counts']})\n"
            f"  households without signal {without[0]:,.1f} vs {without[1]:,.1f} "
            f"(max |Δ| per village {same['households_max_abs_diff']:.3g})\n"
            f"  dead zones {zones[0]} vs {zones[1]} ({km2[0]:,.2f} vs {km2[1]:,.2f} km²)\n"
            f"  cells {cells[0]:,} vs {cells[1]:,} ({same['cells_only_one_side']} on one side "
            f"only), max |Δ margin_db| {same['margin_db_max_abs_diff']:.3g} dB"
        )
    for line in projection(info, tiled, workers):
        print(line)


def side_by_side(runs: list[dict[str, Any]]) -> None:
    print("\nside by side:")
    print(
        f"{'scale':>6} {'villages':>9} {'readings':>10} {'single s':>9} {'single MiB':>11} "
        f"{'tiled s':>8} {'worker peak MiB':>16} {'tiles':>6} {'median tile s':>14}"
    )
    for run in runs:
        info, single, tiled = run["info"], run["single"], run["tiled"]
        tile = tile_task(tiled) if tiled else None
        print(
            f"{info['scale']:>6} {info['villages']:>9,} {info['readings']:>10,} "
            f"{single['wall_s'] if single else float('nan'):>9.1f} "
            f"{single['peak_mib'] if single else float('nan'):>11,.0f} "
            f"{tiled['wall_s'] if tiled else float('nan'):>8.1f} "
            f"{max(tiled['worker_peak_mib'].values()) if tiled else float('nan'):>16,.0f} "
            f"{tile['count'] if tile else 0:>6} {tile['median'] if tile else float('nan'):>14.2f}"
        )


def both_runs(
    work: Path, workers: int, timeout_s: float, concurrent: bool
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The single and the tiled run's answers (the tiled None without coverage.tiles)."""
    try:
        import coverage.tiles  # noqa: F401
    except ImportError:
        return child("single", work, workers, timeout_s), None
    if not concurrent:
        return child("single", work, workers, timeout_s), child("tiled", work, workers, timeout_s)
    single, tiled = start_child("single", work, workers), start_child("tiled", work, workers)
    return finish_child(single, timeout_s), finish_child(tiled, timeout_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, nargs="+", default=[0.02], help="1.0 = the whole country"
    )
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers (2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds a run may take")
    parser.add_argument("--keep", type=Path, help="keep each scale's files under this directory")
    parser.add_argument("--child", choices=("single", "tiled"), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--concurrent",
        action="store_true",
        help="run the single and the tiled analysis at the same time (wall times then share "
        "the cores; each peak memory is still its own)",
    )
    args = parser.parse_args()
    if args.child:
        answer = (
            run_single(args.work) if args.child == "single" else run_tiled(args.work, args.workers)
        )
        print("RESULT " + json.dumps(answer))
        return
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average before: {load} on {os.cpu_count()} cores")
    runs = []
    for scale in args.scale:
        with TemporaryDirectory() as tmp:
            work = Path(tmp) if args.keep is None else args.keep / f"scale-{scale}"
            work.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            info = synthesise(scale, work, np.random.default_rng(args.seed))
            print(f"scale {scale}: synthesised in {time.perf_counter() - start:.1f} s")
            single, tiled = both_runs(work, args.workers, args.timeout, args.concurrent)
            same = compare(work) if single is not None and tiled is not None else None
            report(info, single, tiled, same, args.workers, args.timeout)
            runs.append({"info": info, "single": single, "tiled": tiled, "same": same})
            if args.keep is not None:
                (args.keep / f"summary-{scale}.json").write_text(json.dumps(runs[-1]))
    if len(runs) > 1:
        side_by_side(runs)


if __name__ == "__main__":
    main()
