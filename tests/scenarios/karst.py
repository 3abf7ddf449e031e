"""A karst scenario, end to end: world, physics, campaign, truth, files.

:func:`write_scenario` is deterministic per seed. It writes what a user of
lomsong would bring (villages, sites, readings, a DEM) and, beside them, the
truth computed from the scenario's own signal field at the true household
positions. Only the first four files are for the analysis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.transform import from_origin

from tests.scenarios.campaign import make_routes, simulate_campaign
from tests.scenarios.radio import CarrierField, carrier_fields, cell_medians, draw_physics
from tests.scenarios.terrain import CELL_M, CRS_UTM, TO_WGS84, Terrain, gaussian_field, make_terrain
from tests.scenarios.world import (
    CARRIERS,
    PROVINCE,
    Village,
    make_remote_villages,
    make_sites,
    make_villages,
)

# DESIGN.md's verdict rules, restated here so the scenario owes nothing to the analysis.
SERVED_AVAILABILITY = 0.5  # a household is served when some carrier is usable half the time
NO_SIGNAL_CENTRE = 0.1  # no_signal: best carrier usable < 10 % of the time at the centre
COVERED_CENTRE = 0.9  # covered needs the centre usable ≥ 90 % of the time ...
PATCHY_SHARE = 0.1  # ... and fewer than 10 % of households unserved
# Borderline: the verdict turns on a hair. Centre availability within 0.05 of
# a threshold, or a share of unserved households between 0.05 and 0.15
# (half to one and a half times the 10 % rule).
BORDER_CENTRE = 0.05
BORDER_SHARE = (0.05, 0.15)

OPENCELLID_COLUMNS = (
    "radio",
    "mcc",
    "net",
    "area",
    "cell",
    "unit",
    "lon",
    "lat",
    "range",
    "samples",
    "changeable",
    "created",
    "updated",
    "averageSignal",
)
EXTRA_COLUMNS = ("site_id", "height_m", "azimuth_deg", "beamwidth_deg", "eirp_dbm", "freq_mhz")
READING_COLUMNS = (
    "time",
    "lat",
    "lon",
    "accuracy_m",
    "mcc",
    "mnc",
    "radio",
    "signal_dbm",
    "no_service",
    "cell_id",
    "area_code",
    "pci",
    "rsrq_db",
    "sinr_db",
    "device",
    "source",
)


@dataclass(frozen=True)
class ScenarioFiles:
    """Paths written by :func:`write_scenario`.

    ``villages``, ``sites``, ``readings`` and ``dem`` are the analysis' inputs;
    ``truth`` (one row per village) and ``households`` (one row per household)
    are the scenario's answer and must never reach the analysis.
    """

    villages: Path
    sites: Path
    readings: Path
    dem: Path
    truth: Path
    households: Path
    bare_carrier: int  # MNC whose sites are bare OpenCelliD rows


def _wgs84(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = TO_WGS84.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon), np.asarray(lat)


def _write_villages(path: Path, villages: list[Village]) -> None:
    features = []
    for v in villages:
        ring = shapely.get_coordinates(v.polygon.exterior)
        lon, lat = _wgs84(ring[:, 0], ring[:, 1])
        clon, clat = _wgs84(np.array([v.centre[0]]), np.array([v.centre[1]]))
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "id": v.id,
                    "name": v.name,
                    "commune": v.commune,
                    "district": v.district,
                    "province": PROVINCE,
                    "households": len(v.households),
                    "centre_lon": round(float(clon[0]), 7),
                    "centre_lat": round(float(clat[0]), 7),
                },
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [round(float(a), 7), round(float(b), 7)]
                            for a, b in zip(lon, lat, strict=True)
                        ]
                    ],
                },
            }
        )
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )


def _write_sites(
    path: Path, rng: np.random.Generator, sites: pd.DataFrame, cells: pd.DataFrame, bare: int
) -> None:
    """One CSV: the bare carrier as OpenCelliD rows (position estimated from
    crowd fixes, ~60 m off, per cell; ``range`` a spread of fixes, not a
    coverage radius), the others with lomsong's optional columns."""
    site = sites.loc[cells["site"]].reset_index(drop=True)
    is_bare = (cells["mnc"] == bare).to_numpy()
    x = site["x"].to_numpy() + np.where(is_bare, rng.normal(0, 60.0, len(cells)), 0.0)
    y = site["y"].to_numpy() + np.where(is_bare, rng.normal(0, 60.0, len(cells)), 0.0)
    lon, lat = _wgs84(x, y)
    created = rng.integers(1_546_300_800, 1_735_689_600, len(cells))  # 2019-2024
    frame = pd.DataFrame(
        {
            "radio": cells["radio"].str.upper().to_numpy(),
            "mcc": 452,
            "net": cells["mnc"].to_numpy(),
            "area": cells["area"].to_numpy(),
            "cell": cells["cell_id"].to_numpy(),
            "unit": cells["unit"].to_numpy(),
            "lon": np.round(lon, 6),
            "lat": np.round(lat, 6),
            "range": pd.array(
                np.where(is_bare, rng.integers(300, 3001, len(cells)), np.nan), dtype="Int64"
            ),
            "samples": pd.array(
                np.where(is_bare, rng.integers(3, 400, len(cells)), np.nan), dtype="Int64"
            ),
            "changeable": 1,
            "created": created,
            "updated": created + rng.integers(0, 50_000_000, len(cells)),
            "averageSignal": 0,
            "site_id": np.where(
                is_bare,
                None,
                [
                    f"{CARRIERS[m][:3].upper()}-{s:03d}"
                    for m, s in zip(cells["mnc"], cells["site"], strict=True)
                ],
            ),
            "height_m": np.where(is_bare, np.nan, site["height_m"]),
            "azimuth_deg": np.where(is_bare, np.nan, cells["azimuth_deg"]),
            "beamwidth_deg": np.where(is_bare, np.nan, cells["beamwidth_deg"]),
            "eirp_dbm": np.where(is_bare, np.nan, cells["eirp_dbm"]),
            "freq_mhz": np.where(is_bare, np.nan, cells["freq_mhz"]),
        }
    )
    frame[[*OPENCELLID_COLUMNS, *EXTRA_COLUMNS]].to_csv(path, index=False, na_rep="")


def _write_dem(path: Path, terrain: Terrain) -> None:
    profile = {
        "driver": "GTiff",
        "height": terrain.z.shape[0],
        "width": terrain.z.shape[1],
        "count": 1,
        "dtype": "float32",
        "crs": CRS_UTM,
        "compress": "deflate",
        "transform": from_origin(terrain.x0, terrain.y0, CELL_M, CELL_M),
        "nodata": -9999.0,
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(terrain.z, 1)


def judge(
    villages: list[Village],
    fields: dict[int, CarrierField],
    offsets: dict[str, tuple[int, int, int]],
    readings_per_village: dict[str, int],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Truth per village and per household, with DESIGN.md's official rules."""
    availability = {mnc: field.availability() for mnc, field in fields.items()}
    rows, houses = [], []
    for v in villages:
        first, count, centre = offsets[v.id]
        a_house = np.column_stack([availability[m][first : first + count] for m in CARRIERS])
        a_centre = np.array([availability[m][centre] for m in CARRIERS])
        served = (a_house >= SERVED_AVAILABILITY).any(axis=1)
        share = float(1.0 - served.mean())
        best = float(a_centre.max())
        if best < NO_SIGNAL_CENTRE:
            verdict = "no_signal"
        elif best < COVERED_CENTRE or share >= PATCHY_SHARE:
            verdict = "patchy"
        else:
            verdict = "covered"
        borderline = (
            abs(best - COVERED_CENTRE) <= BORDER_CENTRE
            or abs(best - NO_SIGNAL_CENTRE) <= BORDER_CENTRE
            or BORDER_SHARE[0] <= share <= BORDER_SHARE[1]
        )
        row = {
            "village_id": v.id,
            "name": v.name,
            "verdict": verdict,
            "borderline": bool(borderline),
            "remote": v.remote,
            "visited": v.visited,
            "readings": readings_per_village.get(v.id, 0),
            "households": count,
            "households_without_signal": int((~served).sum()),
            "share_unserved": round(share, 4),
            "centre_availability": round(best, 4),
            "best_carrier": (
                list(CARRIERS.values())[int(a_centre.argmax())] if best >= NO_SIGNAL_CENTRE else ""
            ),
        }
        for (mnc, name), a in zip(CARRIERS.items(), a_centre, strict=True):
            row[f"centre_availability_{name.lower()}"] = round(float(a), 4)
            unserved = int((a_house[:, list(CARRIERS).index(mnc)] < SERVED_AVAILABILITY).sum())
            row[f"households_without_{name.lower()}"] = unserved
        rows.append(row)
        lon, lat = _wgs84(v.households[:, 0], v.households[:, 1])
        houses.append(
            pd.DataFrame(
                {
                    "village_id": v.id,
                    "lon": np.round(lon, 7),
                    "lat": np.round(lat, 7),
                    "served": served,
                    "best_availability": a_house.max(axis=1).round(4),
                }
            )
        )
    return pd.DataFrame(rows), pd.concat(houses, ignore_index=True)


def write_scenario(out_dir: Path, *, seed: int) -> ScenarioFiles:
    """Write a karst scenario's files into ``out_dir`` (created if needed).

    Parameters
    ----------
    out_dir : Path
        Directory for ``villages.geojson``, ``sites.csv``, ``readings.csv``,
        ``dem.tif``, ``truth.csv`` and ``households.csv``.
    seed : int, keyword-only
        Same seed, same files.

    Returns
    -------
    ScenarioFiles
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0x6B61727374])  # "karst"
    prefix = f"k{seed}"
    lon, lat = rng.uniform(104.9, 105.6), rng.uniform(21.9, 22.5)
    terrain = make_terrain(rng, lon=lon, lat=lat)
    physics = draw_physics(rng)
    villages = make_villages(rng, terrain, prefix=prefix)
    sites, cells = make_sites(rng, terrain, villages)
    villages += make_remote_villages(
        rng,
        terrain,
        sites[["x", "y"]].to_numpy(),
        prefix=prefix,
        start=len(villages) + 1,
        taken={v.name for v in villages},
    )
    routes = make_routes(rng, terrain, villages)

    # Every point the physics is evaluated at: households, centres, path nodes.
    offsets: dict[str, tuple[int, int, int]] = {}
    blocks, start = [], 0
    for v in villages:
        blocks.append(v.households)
        offsets[v.id] = (start, len(v.households), -1)
        start += len(v.households)
    for v in villages:
        blocks.append(np.array([v.centre]))
        offsets[v.id] = (*offsets[v.id][:2], start)
        start += 1
    node_start = start
    blocks.append(routes.xy)
    points = np.vstack(blocks)
    px, py = points[:, 0], points[:, 1]

    medians, edges = cell_medians(terrain, physics, sites, cells, px, py, rng)
    fading = terrain.sample(gaussian_field(rng, rng.uniform(800.0, 2000.0)), px, py)
    fields = carrier_fields(medians, edges, cells, fading)
    node_fields = {
        m: CarrierField(
            median={r: v[node_start:] for r, v in f.median.items()},
            serving={r: v[node_start:] for r, v in f.serving.items()},
            sigma_db=f.sigma_db[node_start:],
        )
        for m, f in fields.items()
    }
    readings = simulate_campaign(rng, routes, node_fields, cells, prefix=prefix)
    # Nobody walked the unvisited villages; a GPS fix of a car on the road
    # nearby must not land inside one either.
    rx, ry = TO_WGS84.transform(
        readings["lon"].to_numpy(), readings["lat"].to_numpy(), direction="INVERSE"
    )
    closed = shapely.union_all([v.polygon.buffer(50.0) for v in villages if not v.visited])
    away = ~shapely.contains_xy(closed, rx, ry)
    readings, rx, ry = readings.loc[away].reset_index(drop=True), rx[away], ry[away]

    bare = int(rng.choice(list(CARRIERS)))
    files = ScenarioFiles(
        villages=out_dir / "villages.geojson",
        sites=out_dir / "sites.csv",
        readings=out_dir / "readings.csv",
        dem=out_dir / "dem.tif",
        truth=out_dir / "truth.csv",
        households=out_dir / "households.csv",
        bare_carrier=bare,
    )
    _write_villages(files.villages, villages)
    _write_sites(files.sites, rng, sites, cells, bare)
    readings[list(READING_COLUMNS)].to_csv(files.readings, index=False, na_rep="")
    _write_dem(files.dem, terrain)

    per_village = {v.id: int(shapely.contains_xy(v.polygon, rx, ry).sum()) for v in villages}
    truth, households = judge(villages, fields, offsets, per_village)
    truth.to_csv(files.truth, index=False)
    households.to_csv(files.households, index=False)
    return files
