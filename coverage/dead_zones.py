"""Dead zones: contiguous cells without reliable signal, dissolved (step 6).

A cell is bad when even the best carrier's P(usable) is below
:data:`~coverage.thresholds.USABLE_P_HIGH`; touching bad cells form one zone.
"""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage import thresholds as T
from geodata import constants as C
from geodata.constants import Verdict
from geodata.hexgrid import cell_polygons, connected_groups, unique_cells

DEAD_ZONE_COLUMNS: tuple[str, ...] = (
    "id",
    "verdict",
    "area_km2",
    "households",
    "village_ids",
    "carriers_absent",
    "nearest_site_m",
    "commune_id",
    "geometry",
)


def _empty(metric_crs: object) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {c: [] for c in DEAD_ZONE_COLUMNS}, geometry="geometry", crs=C.CRS_WGS84
    )
    return frame


def _dissolve(polygons: np.ndarray, group: np.ndarray) -> np.ndarray:
    """One polygon per group of edge-sharing hexagons.

    GEOS coverage union (the hexagons tile without overlap): linear in the
    edges, where h3ronpy's ``link_cells`` grows much faster with a zone's
    holes. A loop over zones, not cells.
    """
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(int(group.max()) + 2))
    return np.array(
        [shapely.coverage_union_all(polygons[order[a:b]]) for a, b in itertools.pairwise(bounds)],
        dtype=object,
    )


def _lists(keys: pd.Series, values: pd.Series) -> pd.Series:
    """List the values of each key, as ``values.groupby(keys).agg(list)``, for sorted rows.

    One slice per key instead of pandas' per-group Python aggregation.
    """
    key = keys.to_numpy(object)
    if len(key) == 0:
        return pd.Series(dtype=object)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    items = values.to_numpy(object)
    bounds = [*starts.tolist(), len(key)]
    return pd.Series(
        [items[a:b].tolist() for a, b in itertools.pairwise(bounds)],
        index=key[starts],
        dtype=object,
    )


def find_dead_zones(
    fused: pd.DataFrame,
    *,
    village_cells: pd.DataFrame,
    households: pd.DataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    metric_crs: object,
) -> gpd.GeoDataFrame:
    """Dissolve contiguous no-signal/patchy cells inside villages into zones.

    Parameters
    ----------
    fused : DataFrame
        ``h3, carrier, p_usable`` per cell and carrier.
    village_cells : DataFrame, keyword-only
        ``village_id, h3``: the cells the villages cover.
    households : DataFrame, keyword-only
        ``village_id, h3, households``.
    villages : GeoDataFrame, keyword-only
        With ``id`` and ``commune_id``.
    sites : DataFrame, keyword-only
        Cells with ``lon``/``lat``, for the distance to the nearest site.
    metric_crs : CRS-like, keyword-only
        Where areas and distances are measured (a UTM zone).

    Returns
    -------
    GeoDataFrame (EPSG:4326) with :data:`DEAD_ZONE_COLUMNS`, largest
    household count first.
    """
    best = fused.groupby("h3")["p_usable"].max()
    ours = best.reindex(unique_cells(village_cells["h3"].to_numpy(np.uint64)))
    bad = ours[ours < T.USABLE_P_HIGH]
    if bad.empty:
        return _empty(metric_crs)
    cells = bad.index.to_numpy(np.uint64)
    group = connected_groups(cells)
    zones = gpd.GeoDataFrame(
        {"id": [f"dz-{i + 1:04d}" for i in range(int(group.max()) + 1)]},
        geometry=_dissolve(cell_polygons(cells), group),
        crs=C.CRS_WGS84,
    )
    member = pd.DataFrame(
        {"h3": cells, "p_best": bad.to_numpy(), "zone": zones["id"].to_numpy()[group]}
    )

    no_signal_share = (member["p_best"] < T.USABLE_P_LOW).groupby(member["zone"]).mean()
    hh = member.merge(households, on="h3").groupby("zone")["households"].sum()
    touched = member[["h3", "zone"]].merge(village_cells, on="h3")[["zone", "village_id"]]
    touched = touched.drop_duplicates().sort_values(["zone", "village_id"])
    village_ids = _lists(touched["zone"], touched["village_id"])
    reach = member.merge(fused, on="h3").groupby(["zone", "carrier"])["p_usable"].max()
    absent = reach[reach < T.SERVED_P].reset_index()  # sorted by zone, then carrier
    absent = _lists(absent["zone"], absent["carrier"])
    commune_of = villages.set_index("id")["commune_id"]

    zones = zones.set_index("id")
    zones["verdict"] = np.where(
        no_signal_share.reindex(zones.index).fillna(0) >= 0.5,
        Verdict.NO_SIGNAL.value,
        Verdict.PATCHY.value,
    )
    zones["households"] = np.rint(hh.reindex(zones.index).fillna(0)).astype(int)
    zones["village_ids"] = village_ids.reindex(zones.index).apply(
        lambda v: v if isinstance(v, list) else []
    )
    zones["carriers_absent"] = absent.reindex(zones.index).apply(
        lambda v: v if isinstance(v, list) else []
    )
    # The commune most of a zone's villages belong to (ties: the first by id).
    communes = touched.assign(commune=touched["village_id"].map(commune_of)).dropna()
    tally = communes.groupby(["zone", "commune"]).size().rename("villages").reset_index()
    tally = tally.sort_values(["zone", "villages", "commune"], ascending=[True, False, True])
    zones["commune_id"] = tally.drop_duplicates("zone").set_index("zone")["commune"]
    zones["commune_id"] = (
        zones["commune_id"].astype(object).where(zones["commune_id"].notna(), None)
    )
    metric = zones.to_crs(metric_crs)
    zones["area_km2"] = (metric.area / 1e6).round(3)
    if len(sites):
        site_points = gpd.GeoSeries(
            gpd.points_from_xy(sites["lon"], sites["lat"]), crs=C.CRS_WGS84
        ).to_crs(metric_crs)
        tree = shapely.STRtree(site_points.values)
        _, distance = tree.query_nearest(
            metric.geometry.values, return_distance=True, all_matches=False
        )
        zones["nearest_site_m"] = np.round(distance, 0)
    else:
        zones["nearest_site_m"] = np.nan
    zones = zones.reset_index().sort_values(["households", "area_km2"], ascending=False)
    return gpd.GeoDataFrame(
        zones[list(DEAD_ZONE_COLUMNS)], geometry="geometry", crs=C.CRS_WGS84
    ).reset_index(drop=True)
