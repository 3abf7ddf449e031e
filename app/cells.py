"""Hex cells for maps and exports: the analysis' fine cells gathered into coarser parents.

The analysis judges villages on res-10 cells (~66 m); maps and exports show
res 9 (~0.1 km²), and overviews res 8. A parent's P(usable) and dBm are the
means of its children weighted by how much evidence each carries: its
readings plus the prediction's weight (``coverage.fusion.PRIOR_READINGS``),
so cells without readings still count.
"""

from __future__ import annotations

import geopandas as gpd
import h3ronpy
import numpy as np
import pandas as pd

from app.store_results import CELL_COLUMNS
from coverage.fusion import PRIOR_READINGS, classify
from geodata import constants as C
from geodata.hexgrid import cell_centres, cell_polygons, cells_from_strings, cells_to_strings

#: Resolution of stored cells (maps, exports) and of overview pages.
STORED_RESOLUTION = C.H3_RESOLUTION
OVERVIEW_RESOLUTION = C.H3_RESOLUTION_OVERVIEW


def coarsen_cells(cells: pd.DataFrame, *, resolution: int) -> pd.DataFrame:
    """Gather cells (``h3`` uint64 or string) into their parents at ``resolution``.

    Returns
    -------
    DataFrame
        ``h3`` (string), ``carrier``, ``radio``, ``p_usable``, ``dbm``,
        ``cell_class``, ``evidence``, ``count``, ``lat``, ``lon`` (parent centre).

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
    parent = np.asarray(h3ronpy.change_resolution(h3, resolution), dtype=np.uint64)
    count = pd.to_numeric(cells["count"]).fillna(0).to_numpy(float)
    weight = count + PRIOR_READINGS
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
    out = pd.DataFrame(
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
    return out


def cells_for_storage(cells: pd.DataFrame, villages: gpd.GeoDataFrame) -> pd.DataFrame:
    """The analysis' cells at :data:`STORED_RESOLUTION`, each with its commune.

    A parent belongs to the commune of the village nearest its centre (the
    village containing it, when one does).
    """
    coarse = coarsen_cells(cells, resolution=STORED_RESOLUTION)
    if coarse.empty or villages.empty:
        return coarse.assign(commune_id=pd.Series(dtype=object))
    points = gpd.points_from_xy(coarse["lon"], coarse["lat"])
    nearest = villages.sindex.nearest(points, return_all=False)
    commune = np.empty(len(coarse), dtype=object)
    commune[nearest[0]] = villages["commune_id"].to_numpy()[nearest[1]]
    return coarse.assign(commune_id=commune)


def cells_geoframe(cells: pd.DataFrame) -> gpd.GeoDataFrame:
    """Stored cells with their hexagon polygons, in EPSG:4326."""
    h3 = cells_from_strings(cells["h3"]) if len(cells) else np.empty(0, np.uint64)
    return gpd.GeoDataFrame(cells, geometry=cell_polygons(h3), crs=C.CRS_WGS84)
