"""Map cells: the analysis' fine cells gathered into the coarser hexagons maps show.

The analysis judges villages on res-10 cells (~66 m); maps and exports show
res 9 (~0.1 km²), and overviews res 8. A parent's P(usable) and dBm are the
means of its children weighted by how much evidence each carries: its
readings plus the prediction's weight (:data:`coverage.thresholds.PRIOR_READINGS`),
so cells without readings still count. The parent is classified again from
those means, with the rule the fine cells were classified by.

Map cells are public, so a hexagon must not follow one phone: the readings
in a hexagon must come from at least :data:`MIN_DEVICES` distinct devices.
A hexagon with fewer is merged with its siblings into their parent (one
resolution coarser, gathered by the same rules), and the parent is dropped
when it still has fewer. Hexagons without readings (the model alone) say
nothing of anyone and stay. :func:`device_sketch` keeps which devices read
each fine cell, so that the devices of any parent are counted distinct, not
summed.

The service stores these cells, and :meth:`coverage.pipeline.AnalysisResult.map_cells`
gives the same table to the CLI and the notebooks.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage import thresholds as T
from coverage.classify import classify
from geodata import constants as C
from geodata.hexgrid import (
    cell_centres,
    cell_polygons,
    cells_for_points,
    cells_from_strings,
    cells_to_strings,
    change_resolution,
)
from geodata.sites import carrier_names

#: Columns of a map-cells table (and of the service's ``cells`` table).
CELL_COLUMNS: tuple[str, ...] = (
    "h3",
    "carrier",
    "radio",
    "p_usable",
    "dbm",
    "cell_class",
    "evidence",
    "count",
    "commune_id",
    "lat",
    "lon",
)
#: Resolution of the cells maps and exports show (res 9, ~0.1 km²).
MAP_RESOLUTION: int = C.H3_RESOLUTION
#: Resolution of the cells of overview pages (res 8, ~0.7 km²).
OVERVIEW_RESOLUTION: int = C.H3_RESOLUTION_OVERVIEW
#: Distinct devices a public hexagon's readings must come from.
MIN_DEVICES: int = 3
#: Columns of a device sketch (:func:`device_sketch`).
DEVICE_COLUMNS: tuple[str, ...] = ("h3", "carrier", "device")


def empty_device_sketch() -> pd.DataFrame:
    """Return a device sketch with no rows."""
    return pd.DataFrame(
        {
            "h3": pd.Series(dtype="uint64"),
            "carrier": pd.Series(dtype="string"),
            "device": pd.Series(dtype="int64"),
        }
    )


def device_sketch(
    readings: pd.DataFrame, *, resolution: int, keep: int = MIN_DEVICES
) -> pd.DataFrame:
    """Tell which devices read each (cell, carrier): up to ``keep`` of them, numbered.

    ``keep`` per pair are enough to count any union of cells (a parent) up to
    ``keep``: a cell with ``keep`` devices or more brings ``keep`` of its own,
    one with fewer brings all it has. Devices are numbered by
    :func:`device_numbers`, and the numbers never leave the analysis.
    Readings without a device id count as one device, as
    :func:`coverage.stats.aggregate_readings` counts them.

    Parameters
    ----------
    readings : DataFrame
        Canonical readings: ``lat``, ``lon``, ``mcc``, ``mnc``, ``device``.
    resolution : int, keyword-only
        H3 resolution of the cells (the analysis').
    keep : int, default :data:`MIN_DEVICES`, keyword-only

    Returns
    -------
    DataFrame
        :data:`DEVICE_COLUMNS`: ``h3`` (uint64), ``carrier``, ``device`` (int),
        one row per distinct (cell, carrier, device) kept.

    Examples
    --------
    >>> readings = pd.DataFrame({"lat": [22.57] * 5, "lon": [105.49] * 5, "mcc": 452,
    ...     "mnc": 4, "device": ["a", "b", "a", "c", "d"]})
    >>> len(device_sketch(readings, resolution=10))
    3
    """
    if readings.empty:
        return empty_device_sketch()
    device = np.zeros(len(readings), dtype=np.int64)
    if "device" in readings:
        device = device_numbers(readings["device"])
    h3 = cells_for_points(
        readings["lat"].to_numpy(float), readings["lon"].to_numpy(float), resolution=resolution
    )
    network, networks = pd.factorize(
        readings["mcc"].to_numpy(np.int64) * 1000 + readings["mnc"].to_numpy(np.int64)
    )
    # Sorted by cell, network, device: the distinct triples, then each
    # (cell, network)'s first ``keep`` of them in the devices' number order.
    order = np.lexsort((device, network, h3))
    h3, network, device = h3[order], network[order], device[order]
    new = np.r_[True, (h3[1:] != h3[:-1]) | (network[1:] != network[:-1])]
    distinct = new | np.r_[True, device[1:] != device[:-1]]
    h3, network, device, new = h3[distinct], network[distinct], device[distinct], new[distinct]
    first = np.flatnonzero(new)
    rank = np.arange(len(h3)) - first[np.cumsum(new) - 1]
    kept = rank < keep
    names = carrier_names(
        pd.Series(networks // 1000, dtype="int64"), pd.Series(networks % 1000, dtype="int64")
    ).to_numpy(object)
    return pd.DataFrame(
        {
            "h3": h3[kept].astype(np.uint64),
            "carrier": pd.Series(names[network[kept]], dtype="string"),
            "device": device[kept],
        }
    )


def device_numbers(devices: pd.Series) -> np.ndarray:
    """Return device numbers from a fixed hash of their id (int64 ≥ 0; no id: 0).

    The same device gets the same number in any subset of the readings, so
    the sketches of tiles analysed apart (:mod:`coverage.tiles`) are one sketch.
    """
    missing = devices.isna().to_numpy(bool)
    ids = devices.astype(object).where(~missing, "").astype(str).to_numpy(object)
    numbers: np.ndarray = (pd.util.hash_array(ids) >> np.uint64(1)).astype(np.int64)
    numbers[missing] = 0
    return numbers


def _devices_at(devices: pd.DataFrame, resolution: int, keys: pd.MultiIndex) -> np.ndarray:
    """Distinct devices of each (cell at ``resolution``, carrier) in ``keys``, from a sketch."""
    if devices.empty:
        return np.zeros(len(keys), dtype=np.int64)
    parent = change_resolution(devices["h3"].to_numpy(np.uint64), resolution)
    distinct = pd.DataFrame(
        {
            "h3": parent,
            "carrier": devices["carrier"].astype(str).to_numpy(),
            "device": devices["device"],
        }
    ).drop_duplicates()
    counts = distinct.groupby(["h3", "carrier"], sort=False).size()
    found: np.ndarray = counts.reindex(keys).fillna(0).to_numpy(np.int64)
    return found


def _keys(h3: np.ndarray, carrier: pd.Series) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays(
        [np.asarray(h3, dtype=np.uint64), carrier.astype(str).to_numpy()], names=["h3", "carrier"]
    )


def public_cells(
    cells: pd.DataFrame,
    devices: pd.DataFrame | None,
    *,
    resolution: int,
    min_devices: int = MIN_DEVICES,
) -> pd.DataFrame:
    """Gather cells into hexagons at ``resolution`` that follow no one device.

    A hexagon with readings from fewer than ``min_devices`` distinct devices
    is merged, with its siblings of the same carrier, into their parent
    (``resolution − 1``, :func:`coarsen_cells`' rules); the parent is kept
    when its readings come from ``min_devices`` devices or more, and dropped
    otherwise. A hexagon without readings stays as it is.

    Parameters
    ----------
    cells : DataFrame
        Fine cells, as :func:`coarsen_cells` takes them.
    devices : DataFrame or None
        The readings' :func:`device_sketch` at the cells' resolution; ``None``
        when unknown: then no hexagon with readings is public.
    resolution : int, keyword-only
    min_devices : int, default :data:`MIN_DEVICES`, keyword-only

    Returns
    -------
    DataFrame
        :func:`coarsen_cells`' columns; ``h3`` at ``resolution`` or, where
        merged, one coarser.
    """
    devices = empty_device_sketch() if devices is None else devices
    coarse = coarsen_cells(cells, resolution=resolution)
    if coarse.empty:
        return coarse
    h3 = cells_from_strings(coarse["h3"])
    seen = _devices_at(devices, resolution, _keys(h3, coarse["carrier"]))
    short = (coarse["count"].to_numpy() > 0) & (seen < min_devices)
    if not short.any():
        return coarse
    if resolution == 0:
        return coarse.loc[~short].reset_index(drop=True)
    up = resolution - 1
    families = _keys(change_resolution(h3, up), coarse["carrier"])
    merged = families[short].unique()
    fine = cells["h3"].to_numpy()
    fine = cells_from_strings(fine) if fine.dtype == object else fine.astype(np.uint64)
    in_merged = _keys(change_resolution(fine, up), cells["carrier"]).isin(merged)
    parents = coarsen_cells(cells.loc[in_merged], resolution=up)
    parent_seen = _devices_at(
        devices, up, _keys(cells_from_strings(parents["h3"]), parents["carrier"])
    )
    kept = parents.loc[parent_seen >= min_devices]
    public = pd.concat([coarse.loc[~families.isin(merged)], kept], ignore_index=True)
    return public.sort_values(["h3", "carrier"], ignore_index=True)


def coarsen_cells(cells: pd.DataFrame, *, resolution: int) -> pd.DataFrame:
    """Gather cells (``h3`` uint64 or string) into their parents at ``resolution``.

    Parameters
    ----------
    cells : DataFrame
        Per (cell, carrier): ``h3``, ``carrier``, ``radio``, ``p_usable``,
        ``dbm``, ``evidence`` and ``count``, as
        :attr:`coverage.pipeline.AnalysisResult.cells` or stored map cells.
    resolution : int, keyword-only
        H3 resolution of the parents, no finer than the cells'.

    Returns
    -------
    DataFrame
        ``h3`` (string), ``carrier``, ``radio``, ``p_usable``, ``dbm``,
        ``cell_class``, ``evidence``, ``count``, ``lat``, ``lon`` (parent centre),
        one row per (parent, carrier), sorted by both.

    Examples
    --------
    >>> fine = pd.DataFrame({"h3": ["8a4b8c5a2b47fff", "8a4b8c5a2b4ffff"],
    ...     "carrier": ["Viettel"] * 2, "radio": ["lte"] * 2, "p_usable": [1.0, 0.0],
    ...     "dbm": [-90.0, -120.0], "evidence": ["measured", "predicted"], "count": [8, 0]})
    >>> coarse = coarsen_cells(fine, resolution=9)
    >>> round(float(coarse["p_usable"].iloc[0]), 3), int(coarse["count"].iloc[0])
    (0.833, 8)
    """
    if cells.empty:
        return pd.DataFrame({c: [] for c in CELL_COLUMNS if c != "commune_id"})
    h3 = cells["h3"].to_numpy()
    h3 = cells_from_strings(h3) if h3.dtype == object else h3.astype(np.uint64)
    parent = change_resolution(h3, resolution)
    count = pd.to_numeric(cells["count"]).fillna(0).to_numpy(float)
    weight = count + T.PRIOR_READINGS
    p = pd.to_numeric(cells["p_usable"]).to_numpy(float)
    dbm = pd.to_numeric(cells["dbm"]).to_numpy(float)
    frame = pd.DataFrame(
        {
            "parent": parent,
            "carrier": cells["carrier"].astype(str).to_numpy(),
            "wp": np.where(np.isnan(p), 0, p * weight),
            "w_p": np.where(np.isnan(p), 0, weight),
            "wd": np.where(np.isnan(dbm), 0, dbm * weight),
            "w_d": np.where(np.isnan(dbm), 0, weight),
            "count": count,
            "weight": weight,
            "radio": cells["radio"].astype(str).to_numpy(),
            "measured": (cells["evidence"] == "measured").to_numpy(),
            "predicted": (cells["evidence"] == "predicted").to_numpy(),
        }
    )
    keys = ["parent", "carrier"]
    sums = frame.groupby(keys, sort=True)[["wp", "w_p", "wd", "w_d", "count"]].sum()
    flags = frame.groupby(keys, sort=True)[["measured", "predicted"]].any()
    # The radio of the child carrying the most evidence speaks for the parent.
    radio = frame.sort_values("weight", ascending=False).groupby(keys, sort=True)["radio"].first()
    with np.errstate(invalid="ignore", divide="ignore"):
        p_mean = (sums["wp"] / sums["w_p"]).to_numpy(float)
        dbm_mean = (sums["wd"] / sums["w_d"]).to_numpy(float)
    out = sums.index.to_frame(index=False)
    lat, lon = cell_centres(out["parent"].to_numpy(np.uint64))
    return pd.DataFrame(
        {
            "h3": cells_to_strings(out["parent"].to_numpy(np.uint64)),
            "carrier": out["carrier"],
            "radio": radio.to_numpy(),
            "p_usable": p_mean,
            "dbm": dbm_mean,
            "cell_class": classify(p_mean, dbm_mean, radio.to_numpy(str)),
            "evidence": np.where(
                flags["measured"], "measured", np.where(flags["predicted"], "predicted", "none")
            ),
            "count": sums["count"].to_numpy(int),
            "lat": lat,
            "lon": lon,
        }
    )


def cells_for_storage(
    cells: pd.DataFrame,
    villages: gpd.GeoDataFrame,
    *,
    resolution: int = MAP_RESOLUTION,
    devices: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Gather the analysis' cells into public map cells, each with its commune.

    The hexagons follow no one device (:func:`public_cells`). A hexagon
    belongs to the commune of the village nearest its centre (the village
    containing it, when one does).

    Parameters
    ----------
    cells : DataFrame
        :attr:`coverage.pipeline.AnalysisResult.cells`.
    villages : GeoDataFrame
        The judged villages, with ``commune_id``, in EPSG:4326.
    resolution : int, default :data:`MAP_RESOLUTION`, keyword-only
        H3 resolution of the map cells.
    devices : DataFrame, optional, keyword-only
        The readings' :func:`device_sketch` (:attr:`coverage.pipeline.AnalysisResult.devices`);
        without it no hexagon with readings is public.

    Returns
    -------
    DataFrame
        :data:`CELL_COLUMNS`: :func:`coarsen_cells`' columns plus ``commune_id``.
    """
    coarse = public_cells(cells, devices, resolution=resolution)
    if coarse.empty or villages.empty:
        return coarse.assign(commune_id=pd.Series(dtype=object))
    points = gpd.points_from_xy(coarse["lon"], coarse["lat"])
    nearest = villages.sindex.nearest(points, return_all=False)
    commune = np.empty(len(coarse), dtype=object)
    commune[nearest[0]] = villages["commune_id"].to_numpy()[nearest[1]]
    return coarse.assign(commune_id=commune)


def cells_geoframe(cells: pd.DataFrame) -> gpd.GeoDataFrame:
    """Give map cells (``h3`` as strings) their hexagon polygons, in EPSG:4326.

    Parameters
    ----------
    cells : DataFrame
        Map cells, e.g. from :func:`cells_for_storage`; the index is kept.

    Returns
    -------
    GeoDataFrame

    Examples
    --------
    >>> frame = cells_geoframe(pd.DataFrame({"h3": ["894b8c5a2b7ffff"]}))
    >>> frame.geometry.iloc[0].geom_type, frame.crs.to_epsg()
    ('Polygon', 4326)
    """
    h3 = cells_from_strings(cells["h3"]) if len(cells) else np.empty(0, np.uint64)
    return gpd.GeoDataFrame(cells, geometry=cell_polygons(h3), crs=C.CRS_WGS84)
