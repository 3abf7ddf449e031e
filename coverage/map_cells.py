"""Map cells: the analysis' fine cells gathered into the coarser hexagons maps show.

The analysis judges villages on res-10 cells (~66 m); maps and exports show
res 9 (~0.1 km²), and overviews res 8. A parent's P(usable) and dBm are the
means of its children weighted by how much evidence each carries: its
readings plus the prediction's weight (:data:`coverage.thresholds.PRIOR_READINGS`),
so cells without readings still count. The parent is classified again from
those means, with the rule the fine cells were classified by.

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
    cells_from_strings,
    cells_to_strings,
    change_resolution,
)

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
    cells: pd.DataFrame, villages: gpd.GeoDataFrame, *, resolution: int = MAP_RESOLUTION
) -> pd.DataFrame:
    """Gather the analysis' cells into map cells, each with its commune.

    A parent belongs to the commune of the village nearest its centre (the
    village containing it, when one does).

    Parameters
    ----------
    cells : DataFrame
        :attr:`coverage.pipeline.AnalysisResult.cells`.
    villages : GeoDataFrame
        The judged villages, with ``commune_id``, in EPSG:4326.
    resolution : int, default :data:`MAP_RESOLUTION`, keyword-only
        H3 resolution of the map cells.

    Returns
    -------
    DataFrame
        :data:`CELL_COLUMNS`: :func:`coarsen_cells`' columns plus ``commune_id``.
    """
    coarse = coarsen_cells(cells, resolution=resolution)
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
