"""Weight of the map pages against their budgets (printed, never asserted).

- A commune page (Thượng Nông from the demo region, seed 7): budget 300 KB
  transferred on a cold cache.
- A village page (Bản Giòng, on its commune's hillshade): no budget of its own.
- A province overview of 3,800 synthetic villages (Voronoi cells over
  Tuyên Quang's extent, boundaries densified to 20 m vertices as surveyed
  ones are), 273 dead zones and res-9 cells of three carriers gathered to
  res 8: budget 1.5 MB (no DEM: no hillshade counted).

Transferred = what a browser with a cold cache fetches: the HTML plus the
scripts and styles it loads (Leaflet and lomsong-map.js/.css) and the
hillshade. "today" sends them as they are, the hillshade as a PNG; "now"
gzips the text (the service's GZipMiddleware and cached pages, gzip level 9
here) and sends the hillshade as WebP. A commune's village pages share its hillshade (one image per
commune, ``immutable``): after the commune page, a village page fetches its
HTML only.

Run: ``.venv/bin/python benchmarks/bench_map_weight.py``
"""

from __future__ import annotations

import gzip
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import h3ronpy.vector as h3v
import numpy as np
import pandas as pd
import shapely

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coverage.map_cells import cells_for_storage, cells_geoframe, coarsen_cells  # noqa: E402
from geodata.maps import MapPage, render_map, sites_near  # noqa: E402
from geodata.maps.hillshade import render_hillshade, webp_of  # noqa: E402
from geodata.maps.layers import OWN_CSS, OWN_JS, STATIC_DIR  # noqa: E402

MB = 1_000_000
KB = 1_000
COMMUNE_BUDGET = 300 * KB
VILLAGE_BUDGET = 300 * KB
PROVINCE_BUDGET = 1.5 * MB
LEAFLET = REPO / "node_modules" / "leaflet" / "dist"
# Tuyên Quang's extent (approximate, degrees).
PROVINCE_BOUNDS = (104.85, 21.5, 105.6, 22.7)
CARRIERS = ("Viettel", "VinaPhone", "MobiFone")


def asset_files() -> list[Path]:
    return [
        LEAFLET / "leaflet.js",
        LEAFLET / "leaflet.css",
        STATIC_DIR / OWN_JS,
        STATIC_DIR / OWN_CSS,
    ]


def report(name: str, html: str, budget: float, seconds: float, png: bytes = b"") -> None:
    """Print today's and now's bytes on the wire, cold cache: HTML + assets + hillshade."""
    page = html.encode("utf-8")
    assets = [f.read_bytes() for f in asset_files()]
    webp = webp_of(png) if png else b""
    today = len(page) + sum(map(len, assets)) + len(png)
    now = len(gzip.compress(page)) + sum(len(gzip.compress(a)) for a in assets) + len(webp)
    print(
        f"{name:<28} today {today / KB:7.0f} KB  now {now / KB:6.0f} KB"
        f"  ({now / budget:5.1%} of {budget / KB:.0f} KB; html {len(page) / KB:.0f} KB"
        f" -> {len(gzip.compress(page)) / KB:.0f} KB gzipped,"
        f" hillshade PNG {len(png) / KB:.0f} KB -> WebP {len(webp) / KB:.0f} KB)"
        f"  rendered in {seconds:5.2f} s"
    )


def commune_page() -> None:
    from coverage.pipeline import analyze
    from geodata.demo import write_demo
    from geodata.readings import read_readings_csv, validate_readings
    from geodata.sites import read_sites
    from geodata.villages import read_villages

    with tempfile.TemporaryDirectory() as tmp:
        files = write_demo(Path(tmp), seed=7)
        villages = read_villages(files.villages)
        sites = read_sites(files.sites)
        readings = validate_readings(read_readings_csv(files.readings)).valid
        result = analyze(villages, sites, readings, dem=files.dem, population=files.population)
        # What the service's pages draw: the best-of-any-carrier zones (store.dead_zones()).
        zones = result.dead_zones
        shown = (zones["commune_id"] == "thuong-nong") & (zones["carrier"] == "any")
        shown_zones = zones.loc[shown]
        chosen = result.villages.loc[result.villages["commune_id"] == "thuong-nong"]
        stored = cells_for_storage(result.cells, result.villages)
        cells = cells_geoframe(stored.loc[stored["commune_id"] == "thuong-nong"])
        shade = render_hillshade(files.dem, bounds_wgs84=tuple(chosen.total_bounds))
        start = time.perf_counter()
        html = render_map(
            MapPage(
                chosen,
                "Xã Thượng Nông",
                dead_zones=shown_zones,
                cells=cells,
                sites=sites,
                hillshade="/maps/hillshade/0123456789abcdef.png",
                hillshade_bounds=shade.leaflet_bounds(),
                village_url="/maps/villages/{id}",
            )
        )
        seconds = time.perf_counter() - start
        village = chosen.loc[chosen["name"] == "Bản Giòng"].iloc[[0]]
        west, south, east, north = village.total_bounds
        village_cells = cells.cx[west:east, south:north]
        start = time.perf_counter()
        village_html = render_map(
            MapPage(
                village,
                "Thôn Bản Giòng",
                dead_zones=shown_zones,
                cells=village_cells,
                sites=sites_near(sites, (west, south, east, north)),
                hillshade="/maps/hillshade/0123456789abcdef.png",
                hillshade_bounds=shade.leaflet_bounds(),
            )
        )
        village_seconds = time.perf_counter() - start
    report(f"commune ({len(chosen)} villages)", html, COMMUNE_BUDGET, seconds, shade.png)
    print(f"{'':<28} {len(cells)} res-9 hexagons")
    report("village (Bản Giòng)", village_html, VILLAGE_BUDGET, village_seconds, shade.png)
    warm = len(gzip.compress(village_html.encode()))
    print(f"{'':<28} after its commune page (assets, hillshade cached): {warm / KB:.0f} KB")


def synthetic_province(n_villages: int = 3800, seed: int = 1) -> tuple[gpd.GeoDataFrame, ...]:
    rng = np.random.default_rng(seed)
    west, south, east, north = PROVINCE_BOUNDS
    lon, lat = rng.uniform(west, east, n_villages), rng.uniform(south, north, n_villages)
    points = shapely.points(lon, lat)
    extent = shapely.box(*PROVINCE_BOUNDS)
    cells = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=extent)
    polygons = shapely.intersection(np.asarray(cells.geoms), extent)
    frame = gpd.GeoDataFrame(geometry=polygons, crs="EPSG:4326").to_crs("EPSG:32648")
    frame["geometry"] = frame.geometry.segmentize(20.0)  # surveyed boundaries: a vertex per 20 m
    frame = frame.to_crs("EPSG:4326")
    verdicts = rng.choice(
        ["no_signal", "patchy", "covered", "unknown"], n_villages, p=[0.024, 0.048, 0.9, 0.028]
    )  # 91 and 182 of 3,800 (DESIGN.md)
    households = rng.integers(30, 250, n_villages)
    frame = frame.assign(
        id=[f"v{i:04d}" for i in range(n_villages)],
        name=[f"Thôn Bản {i}" for i in range(n_villages)],
        verdict=verdicts,
        households=households,
        households_without_signal=np.where(verdicts == "covered", 0, households // 2),
        best_carrier=rng.choice(list(CARRIERS), n_villages),
    )
    zones = frame.loc[frame["verdict"].isin(["no_signal", "patchy"])].copy()
    zones["geometry"] = zones.to_crs("EPSG:32648").buffer(-150).to_crs("EPSG:4326")
    zones = zones.loc[~zones.geometry.is_empty]
    zones = zones.assign(area_km2=1.0, carriers_absent=[["Viettel"]] * len(zones))
    nested = h3v.wkb_to_cells(list(shapely.to_wkb(polygons)), 9).to_pylist()
    fine = np.unique(np.concatenate(nested))
    rows = pd.DataFrame(
        {
            "h3": np.repeat(np.asarray(fine, np.uint64), len(CARRIERS)),
            "carrier": np.tile(CARRIERS, len(fine)),
            "radio": "lte",
            "count": rng.poisson(2, len(fine) * len(CARRIERS)),
            "p_usable": rng.beta(4, 1, len(fine) * len(CARRIERS)),
            "dbm": rng.normal(-100, 10, len(fine) * len(CARRIERS)),
            "evidence": "predicted",
        }
    )
    return frame, zones, rows


def province_page() -> None:
    villages, zones, fine = synthetic_province()
    coarse = coarsen_cells(fine, resolution=8)
    start = time.perf_counter()
    html = render_map(
        MapPage(
            villages,
            "Tỉnh Tuyên Quang",
            dead_zones=zones,
            cells=cells_geoframe(coarse),
            village_url="/maps/villages/{id}",
        ),
        detail="overview",
    )
    seconds = time.perf_counter() - start
    report(f"province ({len(villages)} villages)", html, PROVINCE_BUDGET, seconds)
    vertices = int(shapely.get_num_coordinates(villages.geometry.to_numpy()).sum())
    print(
        f"{'':<28} {vertices} boundary vertices in, {len(zones)} dead zones,"
        f" {len(fine)} res-9 rows -> {len(coarse)} res-8 hexagons"
    )


if __name__ == "__main__":
    commune_page()
    province_page()
