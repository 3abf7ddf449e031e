"""The whole analysis at province scale, synthesised here (issue 4's benchmark).

New Tuyên Quang: ~14,000 km², 3,800 villages, 1,500 sites, 5 million
readings, a 30 m DEM. ``--scale`` shrinks every count and the area together
(0.05 = 700 km², 190 villages, 75 sites, 250,000 readings) so the script
also runs in CI-sized time. Prints, never asserts:

- the full analysis time and the process's peak memory (ru_maxrss);
- an incremental refresh after 1,000 new readings (only touched villages);
- the readings-only part beside a naive baseline: a geopandas ``sjoin`` of
  readings to villages, then per-village statistics;
- the terrain step: inside the analysis (time per site, profiles computed,
  how many of them were recomputed exactly, time per profile), and one
  site's 20,000 profiles on their own, with 48 fixed samples and at every
  pixel (the compiled search);
- the default profiles (48 samples, exact where they decide) against 48
  samples alone and every pixel everywhere, at 10 sites' receivers: the
  share refined, the dB error and the served/unserved flips against every
  pixel.

``--profiles fixed`` (48 samples, no refinement) or ``exact`` (every pixel)
runs the analysis with another scheme than the default, for comparison.

Run: ``.venv/bin/python benchmarks/bench_province.py --scale 0.05``
"""

from __future__ import annotations

import argparse
import resource
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

import coverage.predict
import coverage.terrain
from coverage.diffraction import (
    COMPILED_SEARCH,
    FIXED_PROFILE_SAMPLES,
    diffraction_loss_db,
    float32_terrain,
)
from coverage.pipeline import analyze
from coverage.points import readings_per_village, villages_touched
from coverage.predict import predict_signal
from coverage.stats import aggregate_readings
from coverage.terrain import (
    PREDICTION_PROFILE_SAMPLES,
    PREDICTION_REFINES,
    REFINE_ABOVE_USABLE_DB,
    REFINE_BELOW_USABLE_DB,
)
from geodata import constants as C
from geodata.raster import read_raster
from geodata.readings import validate_readings
from geodata.sites import normalise_sites
from geodata.threads import worker_count
from geodata.villages import normalise_villages

FULL = {"area_km2": 14_000, "villages": 3_800, "sites": 1_500, "readings": 5_000_000}
ORIGIN = (480_000.0, 2_540_000.0)  # UTM 48N, over Tuyên Quang
TO_WGS84 = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)
KERNEL = "(compiled kernel)" if COMPILED_SEARCH else "(numpy: kernel not built)"
# The analysis's profile schemes: predict_signal's keywords for each.
SCHEMES = {
    "default": {},
    "fixed": {"profile_samples": FIXED_PROFILE_SAMPLES, "refine_profiles": False},
    "exact": {"profile_samples": None},
}


def scheme_label(name: str) -> str:
    samples = SCHEMES[name].get("profile_samples", PREDICTION_PROFILE_SAMPLES)
    refines = SCHEMES[name].get("refine_profiles", PREDICTION_REFINES)
    if samples is None:
        return f"every DEM pixel, exact search {KERNEL}"
    if refines:
        return (
            f"{samples} fixed samples, exact {KERNEL} within -{REFINE_BELOW_USABLE_DB:.0f}"
            f"/+{REFINE_ABOVE_USABLE_DB:.0f} dB of usable and at readings"
        )
    return f"{samples} fixed samples"


def synthesise(scale: float, out: Path, rng: np.random.Generator) -> dict[str, object]:
    side = np.sqrt(FULL["area_km2"] * scale) * 1000.0
    x0, y0 = ORIGIN
    n_px = int(side / 30)
    # Terrain: smoothed noise with ridges, 30 m pixels.
    noise = np.fft.irfft2(
        np.fft.rfft2(rng.standard_normal((n_px, n_px)))
        / (
            1
            + np.hypot(*np.meshgrid(np.fft.fftfreq(n_px), np.fft.rfftfreq(n_px), indexing="ij"))
            * n_px
            / 20
        )
        ** 2,
        s=(n_px, n_px),
    )
    dem = (300 + 900 * (noise - noise.min()) / np.ptp(noise)).astype("float32")
    dem_path = out / "dem.tif"
    transform = from_origin(x0, y0 + side, 30, 30)
    with rasterio.open(
        dem_path,
        "w",
        driver="GTiff",
        width=n_px,
        height=n_px,
        count=1,
        dtype="float32",
        crs="EPSG:32648",
        transform=transform,
        tiled=True,
        compress="deflate",
    ) as dst:
        dst.write(dem, 1)

    n_villages = max(int(FULL["villages"] * scale), 4)
    centres = rng.uniform([x0, y0], [x0 + side, y0 + side], (n_villages, 2))
    cells = shapely.voronoi_polygons(
        shapely.MultiPoint(centres), extend_to=shapely.box(x0, y0, x0 + side, y0 + side)
    )
    polygons = shapely.intersection(
        shapely.get_parts(cells), shapely.box(x0, y0, x0 + side, y0 + side)
    )
    villages = gpd.GeoDataFrame(
        {
            "id": [f"v{i:05d}" for i in range(len(polygons))],
            "name": [f"Thôn {i}" for i in range(len(polygons))],
            "commune": [f"Xã {i // 12}" for i in range(len(polygons))],
            "district": "Huyện",
            "province": "Tuyên Quang",
            "households": rng.integers(40, 250, len(polygons)),
        },
        geometry=polygons,
        crs="EPSG:32648",
    ).to_crs("EPSG:4326")

    n_sites = max(int(FULL["sites"] * scale), 3)
    sx, sy = rng.uniform([x0, y0], [x0 + side, y0 + side], (n_sites, 2)).T
    lon, lat = TO_WGS84.transform(sx, sy)
    sites = normalise_sites(
        pd.DataFrame(
            {
                "radio": "LTE",
                "mcc": 452,
                "net": rng.choice([1, 2, 4], n_sites),
                "lon": lon,
                "lat": lat,
                "site_id": [f"s{i}" for i in range(n_sites)],
                "height_m": 30.0,
                "eirp_dbm": 62.0,
                "freq_mhz": 1800.0,
                "range": 10_000,
            }
        )
    )

    n_readings = int(FULL["readings"] * scale)
    near = rng.integers(0, n_villages, n_readings)
    rx = centres[near, 0] + rng.normal(0, 400, n_readings)
    ry = centres[near, 1] + rng.normal(0, 400, n_readings)
    rlon, rlat = TO_WGS84.transform(rx, ry)
    dbm = rng.normal(-100, 12, n_readings)
    lost = dbm < -121
    raw = pd.DataFrame(
        {
            "time": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 60 * 86400, n_readings), unit="s"),
            "lat": rlat,
            "lon": rlon,
            "accuracy_m": 10.0,
            "mcc": 452,
            "mnc": rng.choice([1, 2, 4], n_readings),
            "radio": "lte",
            "signal_dbm": np.where(lost, np.nan, np.clip(dbm, -140, -44)),
            "no_service": lost,
            "device": rng.integers(0, 300, n_readings).astype(str),
        }
    )
    readings = validate_readings(raw).valid
    return {
        "villages": normalise_villages(villages),
        "sites": sites,
        "readings": readings,
        "dem": dem_path,
        "side_km": side / 1000,
    }


def naive_readings_only(villages: gpd.GeoDataFrame, readings: pd.DataFrame) -> pd.DataFrame:
    """The baseline: sjoin every reading to its village, then group."""
    points = gpd.GeoDataFrame(
        readings[["signal_dbm", "no_service"]],
        geometry=gpd.points_from_xy(readings["lon"], readings["lat"]),
        crs="EPSG:4326",
    )
    joined = gpd.sjoin(points, villages[["id", "geometry"]], predicate="within")
    return joined.groupby("id").agg(
        n=("signal_dbm", "size"), mean=("signal_dbm", "mean"), lost=("no_service", "mean")
    )


def ours_readings_only(
    villages: gpd.GeoDataFrame, readings: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """lomsong's way, as the analysis does it: H3 cell statistics, and each
    village's readings count and latest reading (grid-bucketed contains_xy)."""
    return aggregate_readings(readings), readings_per_village(villages, readings)


class TerrainMeter:
    """Counts the profiles the analysis computes and the time they take, by
    wrapping :func:`coverage.terrain.diffraction_loss_db` (a benchmark's
    instrument; the library has no hook for it). Sites run on several
    threads, so the profile time is summed over threads; the wall time of
    the whole prediction step (``coverage.predict.predict_signal``: path loss,
    antenna and terrain) is measured too."""

    def __init__(self, **keywords: object) -> None:
        self.seconds = 0.0
        self.profiles = 0
        self.exact_profiles = 0  # of those: profiles read at every pixel
        self.keywords = keywords
        self.wall = 0.0
        self._lock = threading.Lock()
        self._original = coverage.terrain.diffraction_loss_db
        self._predict = coverage.predict.predict_signal

    def __enter__(self) -> TerrainMeter:
        def measured(*args, **kwargs):
            start = time.perf_counter()
            loss = self._original(*args, **kwargs)
            with self._lock:
                self.seconds += time.perf_counter() - start
                self.profiles += len(loss)
                if kwargs.get("samples") is None:
                    self.exact_profiles += len(loss)
            return loss

        def predict(*args, **kwargs):
            start = time.perf_counter()
            best = self._predict(*args, **kwargs, **self.keywords)
            self.wall += time.perf_counter() - start
            return best

        coverage.terrain.diffraction_loss_db = measured
        coverage.predict.predict_signal = predict
        return self

    def __exit__(self, *exc: object) -> None:
        coverage.terrain.diffraction_loss_db = self._original
        coverage.predict.predict_signal = self._predict


def timed(label: str, func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    elapsed = time.perf_counter() - start
    print(f"{label:<46} {elapsed:8.2f} s")
    return result, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05, help="1.0 = the whole province")
    parser.add_argument(
        "--profiles",
        choices=sorted(SCHEMES),
        default="default",
        help="terrain profile scheme of the analysis",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with TemporaryDirectory() as tmp:
        data, _ = timed("synthesise", synthesise, args.scale, Path(tmp), rng)
        villages, sites, readings = data["villages"], data["sites"], data["readings"]
        print(
            f"scale {args.scale}: {data['side_km']:.0f} km square, {len(villages):,} villages, "
            f"{sites['site_id'].nunique():,} sites, {len(readings):,} readings"
        )
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with TerrainMeter(**SCHEMES[args.profiles]) as terrain:
            result, full = timed(
                "full analysis (res 10, terrain, kriging)",
                analyze,
                villages,
                sites,
                readings,
                dem=data["dem"],
            )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"peak memory (ru_maxrss, whole process)         {peak:8.0f} MiB "
            f"(before the analysis: {before:,.0f} MiB)"
        )
        n_sites = sites["site_id"].nunique()
        print(f"profiles: {scheme_label(args.profiles)}")
        print(
            f"terrain in the analysis: {terrain.profiles:,} profiles "
            f"({terrain.profiles / n_sites:,.0f} per site; "
            f"{terrain.exact_profiles:,} at every pixel) on {worker_count()} thread(s); "
            f"profile time summed over threads {terrain.seconds:.2f} s = "
            f"{terrain.seconds / n_sites * 1000:.1f} ms per site, "
            f"{terrain.seconds / max(terrain.profiles, 1) * 1e6:.2f} µs per profile "
            f"per thread"
        )
        print(
            f"prediction step (path loss + terrain), wall: {terrain.wall:.2f} s = "
            f"{terrain.wall / n_sites * 1000:.1f} ms per site, "
            f"{terrain.profiles / max(terrain.wall, 1e-9):,.0f} profiles/s overall"
        )
        print(
            f"budget 120 s at scale 1; this run x{1 / args.scale:.0f} area -> "
            f"~{full / args.scale:,.0f} s if linear"
        )

        # A field team's upload: 1,000 readings walked around one village.
        one = villages.iloc[0]
        fresh = readings.iloc[:1000].assign(
            lon=one["centre_lon"] + rng.normal(0, 0.003, 1000),
            lat=one["centre_lat"] + rng.normal(0, 0.003, 1000),
            time=pd.Timestamp("2026-03-05", tz="UTC"),
            signal_dbm=-118.0,
        )
        touched = villages_touched(villages, fresh)
        subset = villages.loc[villages["id"].isin(touched)]
        west, south, east, north = subset.total_bounds
        nearby = readings.loc[
            readings["lon"].between(west - 0.02, east + 0.02)
            & readings["lat"].between(south - 0.02, north + 0.02)
        ]
        timed(
            f"incremental refresh ({len(touched)} villages touched)",
            analyze,
            subset,
            sites,
            pd.concat([nearby, fresh]),
            dem=data["dem"],
        )

        _, naive = timed(
            "readings-only baseline: sjoin + groupby", naive_readings_only, villages, readings
        )
        _, ours = timed(
            "readings-only lomsong: H3 stats + contains_xy", ours_readings_only, villages, readings
        )
        print(f"ratio baseline / lomsong (readings only): {naive / ours:.1f}x")

        dem = float32_terrain(read_raster(data["dem"]))  # once: its envelopes are cached
        diffraction_loss_db(dem, (0.0, 0.0), 30.0, np.zeros(1), np.zeros(1), 1800.0)  # build them
        site = sites.iloc[0]
        sx, sy = Transformer.from_crs("EPSG:4326", dem.crs, always_xy=True).transform(
            site["lon"], site["lat"]
        )
        points = rng.uniform(-10_000, 10_000, (20_000, 2)) + np.array([sx, sy])
        for label, samples in (
            (f"{FIXED_PROFILE_SAMPLES} samples", FIXED_PROFILE_SAMPLES),
            ("every pixel", None),
        ):
            _, per_site = timed(
                f"terrain step, one site, 20,000 cells, {label}",
                diffraction_loss_db,
                dem,
                (sx, sy),
                30.0,
                points[:, 0],
                points[:, 1],
                1800.0,
                samples=samples,
            )
            print(f"  {per_site / 20_000 * 1e6:.2f} µs per profile")
        print(f"result: {result.villages['verdict'].value_counts().to_dict()}")
        compare_schemes(sites, dem, rng)


def compare_schemes(sites: pd.DataFrame, dem, rng: np.random.Generator) -> None:
    """The default profiles and 48 samples alone against every pixel
    everywhere, at 2,000 random receivers within 12 km of each of 10 sites
    (each site alone, its best sector)."""
    to_metric = Transformer.from_crs("EPSG:4326", dem.crs, always_xy=True)
    usable = C.USABLE_DBM["lte"]
    got: dict[str, list[np.ndarray]] = {name: [] for name in SCHEMES}
    for site_id in sites["site_id"].drop_duplicates().iloc[:10]:
        cells = sites.loc[sites["site_id"] == site_id]
        sx, sy = to_metric.transform(cells["lon"].to_numpy(float), cells["lat"].to_numpy(float))
        r, a = 12_000 * np.sqrt(rng.uniform(0.01, 1, 2000)), rng.uniform(0, 2 * np.pi, 2000)
        x, y = sx[0] + r * np.sin(a), sy[0] + r * np.cos(a)
        for name, keywords in SCHEMES.items():
            best = predict_signal(
                cells, x, y, site_x=np.asarray(sx), site_y=np.asarray(sy), dem=dem, **keywords
            )
            dbm = np.full(len(x), -np.inf)
            dbm[best["point"].to_numpy(int)] = best["predicted_dbm"].to_numpy(float)
            got[name].append(dbm)
    exact = np.concatenate(got["exact"])
    seen = np.isfinite(exact)
    # The decided receivers: those whose exact signal is within 10 dB of usable.
    decided = seen & (np.abs(exact - usable) <= 10.0)
    print(
        f"schemes against every pixel at {seen.sum():,} receivers of 10 sites "
        f"({decided.sum():,} within 10 dB of usable by every pixel):"
    )
    for name in ("fixed", "default"):
        dbm = np.concatenate(got[name])
        error = dbm[decided] - exact[decided]
        flips = (dbm[seen] >= usable) != (exact[seen] >= usable)
        rms = np.sqrt(np.mean(error**2))
        print(
            f"  {scheme_label(name)}:\n    at the decided receivers RMS {rms:.1f} dB, "
            f"max {np.abs(error).max():.1f} dB; served/unserved flipped at "
            f"{flips.sum():,} receivers ({flips.mean():.2%})"
        )


if __name__ == "__main__":
    main()
