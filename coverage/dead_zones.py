"""Dead zones: contiguous cells without reliable signal, dissolved (step 6).

A cell is bad for a *layer* when that layer's P(usable) is below
:data:`~coverage.thresholds.USABLE_P_HIGH`. The layers are the best of any
carrier (``carrier="any"``: even the best carrier fails there), each carrier
on its own, and, when per-radio estimates are given, each carrier and radio.
Touching bad cells of one layer *inside one village* form one zone, so a
zone is something one site could fix: no zone spans two villages, and each
is clipped to its village's boundary.
"""

from __future__ import annotations

import itertools
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from coverage import thresholds as T
from geodata import constants as C
from geodata.constants import Verdict
from geodata.hexgrid import cell_polygons, neighbourhood, unique_cells
from geodata.threads import map_in_order, worker_count

#: The ``carrier`` of the zones where even the best carrier fails.
ANY_CARRIER: Final = "any"

DEAD_ZONE_COLUMNS: tuple[str, ...] = (
    "id",
    "carrier",
    "radio",
    "verdict",
    "area_km2",
    "households",
    "village_id",
    "village_ids",
    "carriers_absent",
    "nearest_site_m",
    "commune_id",
    "geometry",
)


def _empty() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {c: [] for c in DEAD_ZONE_COLUMNS if c != "geometry"},
        geometry=gpd.GeoSeries([], crs=C.CRS_WGS84),
        crs=C.CRS_WGS84,
    )


def _dissolve(polygons: np.ndarray, group: np.ndarray, outlines: np.ndarray) -> np.ndarray:
    """One polygon per group of edge-sharing hexagons, clipped to its outline.

    GEOS coverage union (the hexagons tile without overlap): linear in the
    edges, where h3ronpy's ``link_cells`` grows much faster with a zone's
    holes. A loop over zones, not cells, in chunks on threads (shapely's
    GEOS calls release the GIL). ``outlines[g]`` is group ``g``'s village
    boundary; a zone the clip would empty keeps its hexagons.
    """
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(int(group.max()) + 2))
    n_groups = len(bounds) - 1
    step = max(1, -(-n_groups // (4 * worker_count())))
    chunks = [(a, min(a + step, n_groups)) for a in range(0, n_groups, step)]

    def chunk(span: tuple[int, int]) -> np.ndarray:
        first, last = span
        hexes = np.array(
            [
                shapely.coverage_union_all(polygons[order[bounds[g] : bounds[g + 1]]])
                for g in range(first, last)
            ],
            dtype=object,
        )
        clipped = shapely.intersection(hexes, outlines[first:last])
        keep = shapely.is_empty(clipped) | shapely.is_missing(clipped)
        return np.where(keep, hexes, clipped)

    return np.concatenate(list(map_in_order(chunk, chunks)))


def _mix(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: well-spread 64-bit hashes of ``values`` (uint64, wrapping)."""
    x = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    result: np.ndarray = x ^ (x >> np.uint64(31))
    return result


def _distinct_cell_sets(
    zone: np.ndarray, cells: np.ndarray, village: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Zones with the same cells in the same village: one representative each.

    ``zone`` labels rows 0..n-1 and ``village[z]`` is zone ``z``'s village
    code. A zone's set is summarised by its village, its size and the sum and
    the xor of its cells' 64-bit hashes (on arrays; a collision needs two
    128-bit sums to agree). Returns ``first`` (one zone per distinct set)
    and ``same`` (for each zone, the position in ``first`` of its set).

    >>> first, same = _distinct_cell_sets(
    ...     np.array([0, 0, 1, 1, 2]), np.array([5, 6, 6, 5, 5], dtype=np.uint64), np.zeros(3, int))
    >>> first.tolist(), same.tolist()
    ([0, 2], [0, 0, 1])
    """
    order = np.argsort(zone, kind="stable")
    n = len(village)
    starts = np.searchsorted(zone[order], np.arange(n))
    mixed = _mix(cells[order])
    signature = np.column_stack(
        [
            np.add.reduceat(mixed, starts),
            np.bitwise_xor.reduceat(mixed, starts),
            np.diff(np.r_[starts, len(order)]).astype(np.uint64),
            np.asarray(village).astype(np.uint64),
        ]
    )
    _, first, same = np.unique(signature, axis=0, return_index=True, return_inverse=True)
    return first, same.reshape(-1)


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


def _parts(key: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Label the rows by connected part: touching cells that share a ``key``.

    Rows are (key, cell) pairs, unique; a key is one layer in one village,
    so a chain of cells through another village does not join two parts.
    """
    n = len(cells)
    nodes = pd.DataFrame({"key": key, "h3": cells, "node": np.arange(n)})
    pairs = neighbourhood(unique_cells(cells), k=1)
    edges = pairs.merge(nodes, on="h3").merge(
        nodes.rename(columns={"h3": "neighbour", "node": "other"}), on=["neighbour", "key"]
    )
    graph = coo_matrix(
        (np.ones(len(edges)), (edges["node"].to_numpy(), edges["other"].to_numpy())),
        shape=(n, n),
    )
    labels: np.ndarray
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def _layers(fused: pd.DataFrame, radios: pd.DataFrame | None) -> pd.DataFrame:
    """``carrier, radio, h3, p``: best of any carrier, each carrier, each carrier and radio."""
    best = fused.groupby("h3", sort=False)["p_usable"].max().reset_index()
    tables = [
        best.assign(carrier=ANY_CARRIER, radio=None),
        fused[["h3", "carrier", "p_usable"]].assign(radio=None),
    ]
    if radios is not None and len(radios):
        tables.append(radios[["h3", "carrier", "radio", "p_usable"]])
    table = pd.concat(tables, ignore_index=True).rename(columns={"p_usable": "p"})
    table["carrier"] = table["carrier"].astype(object)
    table["radio"] = table["radio"].astype(object).where(table["radio"].notna(), None)
    return table.dropna(subset=["p"])


def _nearest_site_m(zones: gpd.GeoDataFrame, sites: pd.DataFrame, metric_crs: object) -> np.ndarray:
    """Metres from each zone to the nearest site of its layer (any site for ``any``)."""
    distance = np.full(len(zones), np.nan)
    if not len(sites) or not len(zones):
        return distance
    points = gpd.GeoSeries(gpd.points_from_xy(sites["lon"], sites["lat"]), crs=C.CRS_WGS84).to_crs(
        metric_crs
    )
    site_carrier = sites["carrier"].astype(str).to_numpy() if "carrier" in sites else None
    site_radio = sites["radio"].astype(str).str.lower().to_numpy() if "radio" in sites else None
    metric = zones.geometry.to_crs(metric_crs).to_numpy()
    layer = zones[["carrier", "radio"]].astype(object).fillna("")
    for (carrier, radio), rows in layer.groupby(["carrier", "radio"], sort=False).indices.items():
        mine = np.ones(len(sites), dtype=bool)
        if carrier != ANY_CARRIER and site_carrier is not None:
            mine &= site_carrier == carrier
        if radio and site_radio is not None:
            mine &= site_radio == str(radio).lower()
        if not mine.any():
            continue
        tree = shapely.STRtree(points.to_numpy()[mine])
        _, found = tree.query_nearest(metric[rows], return_distance=True, all_matches=False)
        distance[rows] = np.round(found, 0)
    return distance


def find_dead_zones(
    fused: pd.DataFrame,
    *,
    village_cells: pd.DataFrame,
    households: pd.DataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    metric_crs: object,
    radios: pd.DataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Dissolve contiguous no-signal/patchy cells of each village into zones, per layer.

    Parameters
    ----------
    fused : DataFrame
        ``h3, carrier, p_usable`` per cell and carrier.
    village_cells : DataFrame, keyword-only
        ``village_id, h3``: the cells the villages cover.
    households : DataFrame, keyword-only
        ``village_id, h3, households``.
    villages : GeoDataFrame, keyword-only
        With ``id``, ``commune_id`` and the boundary zones are clipped to.
    sites : DataFrame, keyword-only
        Cells with ``lon``/``lat`` (and ``carrier``/``radio``), for the
        distance to the nearest site of the zone's carrier.
    metric_crs : CRS-like, keyword-only
        Where areas and distances are measured (a UTM zone).
    radios : DataFrame, optional, keyword-only
        ``h3, carrier, radio, p_usable`` per cell, carrier and radio
        (:attr:`~coverage.pipeline.AnalysisResult.signal`): adds the zones
        of each carrier and radio.

    Returns
    -------
    GeoDataFrame (EPSG:4326) with :data:`DEAD_ZONE_COLUMNS`: the
    ``carrier="any"`` zones first, then each carrier's (``radio`` null),
    then each carrier and radio's; in each, most households first. Each
    zone lies in one village (``village_id``; ``village_ids`` is the same
    id as a one-item list).
    """
    layers = _layers(fused, radios)
    inside = village_cells[["village_id", "h3"]].drop_duplicates()
    member = layers.loc[layers["p"] < T.USABLE_P_HIGH].merge(inside, on="h3")
    if member.empty:
        return _empty()
    member = member.sort_values(["carrier", "radio", "village_id", "h3"], na_position="first")
    member = member.reset_index(drop=True)
    key, _ = pd.factorize(pd.MultiIndex.from_frame(member[["carrier", "radio", "village_id"]]))
    member["zone"] = _parts(key, member["h3"].to_numpy(np.uint64))

    zones = member.groupby("zone", sort=True)[["carrier", "radio", "village_id"]].first()
    zones["radio"] = zones["radio"].astype(object).where(zones["radio"].notna(), None)
    zones["no_signal_share"] = (member["p"] < T.USABLE_P_LOW).groupby(member["zone"]).mean()
    # A cell is in many layers (any, each carrier, each radio): draw each once;
    # and a zone with the same cells in another layer (a carrier with one radio
    # there) is the same shape: dissolve and clip each set of cells once.
    cells = member["h3"].to_numpy(np.uint64)
    zone = member["zone"].to_numpy()
    village_code, _ = pd.factorize(zones["village_id"])
    first, same = _distinct_cell_sets(zone, cells, village_code)
    boundary = villages.set_index("id").geometry.to_crs(C.CRS_WGS84)
    outline = shapely.make_valid(boundary.reindex(zones["village_id"].iloc[first]).to_numpy())
    rank = np.full(len(zones), -1)
    rank[first] = np.arange(len(first))
    drawn = rank[zone] >= 0
    unique, back = np.unique(cells[drawn], return_inverse=True)
    geometry = _dissolve(cell_polygons(unique)[back], rank[zone[drawn]], outline)[same]

    hh = member.merge(households, on=["village_id", "h3"]).groupby("zone")["households"].sum()
    reach = (
        member[["zone", "h3"]]
        .drop_duplicates()
        .merge(fused[["h3", "carrier", "p_usable"]], on="h3")
        .groupby(["zone", "carrier"])["p_usable"]
        .max()
    )
    absent = reach[reach < T.SERVED_P].reset_index()  # sorted by zone, then carrier
    absent_lists = _lists(absent["zone"], absent["carrier"])
    commune_of = villages.set_index("id")["commune_id"]

    frame = gpd.GeoDataFrame(zones, geometry=list(geometry), crs=C.CRS_WGS84)
    frame["verdict"] = np.where(
        frame["no_signal_share"] >= 0.5, Verdict.NO_SIGNAL.value, Verdict.PATCHY.value
    )
    frame["households"] = np.rint(hh.reindex(frame.index).fillna(0)).astype(int)
    frame["village_ids"] = [[v] for v in frame["village_id"]]
    frame["carriers_absent"] = [
        list(v) if isinstance(v, list) else [] for v in absent_lists.reindex(frame.index)
    ]
    commune = frame["village_id"].map(commune_of)
    frame["commune_id"] = commune.astype(object).where(commune.notna(), None)
    frame["area_km2"] = (frame.geometry.to_crs(metric_crs).area / 1e6).round(3).to_numpy()
    frame["nearest_site_m"] = _nearest_site_m(frame, sites, metric_crs)

    return number_zones(frame)


def number_zones(zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Order dead zones and number them ``dz-0001``… (see :func:`find_dead_zones`).

    The ``carrier="any"`` zones first, then each carrier's, then each carrier
    and radio's; in each, most households first, then the largest. Zones
    found apart (the tiles of :mod:`coverage.tiles`) are numbered together here.
    """
    frame = zones.assign(
        layer=np.select([zones["carrier"] == ANY_CARRIER, zones["radio"].isna()], [0, 1], default=2)
    )
    frame = frame.sort_values(
        ["layer", "carrier", "radio", "households", "area_km2", "village_id"],
        ascending=[True, True, True, False, False, True],
        na_position="first",
        kind="stable",
    ).reset_index(drop=True)
    frame["id"] = [f"dz-{i + 1:04d}" for i in range(len(frame))]
    return gpd.GeoDataFrame(
        frame[list(DEAD_ZONE_COLUMNS)], geometry="geometry", crs=C.CRS_WGS84
    ).reset_index(drop=True)
