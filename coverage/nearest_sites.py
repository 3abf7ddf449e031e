"""The nearest site of each carrier to each village centre, and whether terrain hides it.

What a village's *why* line says about the sites (:mod:`coverage.verdicts`):
how far the carrier's nearest mast stands from the village centre (the
cultural house of the official criterion), and, when the analysis has a
DEM, whether the terrain crosses the straight line between them. That is
read from the same Deygout profile the prediction uses
(:func:`coverage.diffraction.diffraction_loss_db`, every DEM pixel): a loss
above :data:`LINE_OF_SIGHT_LOSS_DB` means the principal edge stands above
the line of sight (Fresnel parameter v > 0), i.e. a ridge (or the earth's
bulge) is in the way. Without a DEM it is not known, and says so (None).
"""

from __future__ import annotations

from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from scipy.spatial import cKDTree

from coverage.diffraction import diffraction_loss_db, float32_terrain, knife_edge_loss_db
from geodata import constants as C
from geodata.raster import Raster

#: Terrain loss (dB) above which the terrain blocks the line of sight: J(0) of a
#: single knife edge, 6.0 dB (ITU-R P.526-15 eq. 31 at v = 0, the edge grazing
#: the line); Deygout adds secondary edges only past it.
LINE_OF_SIGHT_LOSS_DB: Final = float(knife_edge_loss_db(np.zeros(1))[0])

NEAREST_SITE_COLUMNS: Final = (
    "village_id",
    "carrier",
    "site_id",
    "distance_m",
    "terrain_loss_db",
    "behind_terrain",
)


def nearest_sites(
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    *,
    metric_crs: object,
    terrain: Raster | None = None,
) -> pd.DataFrame:
    """Find, per (village, carrier), the carrier's nearest site to the village centre.

    Parameters
    ----------
    villages : GeoDataFrame
        Normalised villages (``id``, ``centre_lon``, ``centre_lat``).
    sites : DataFrame
        Normalised sites, one row per cell (``site_id``, ``carrier``,
        ``lon``, ``lat``, ``height_m``, ``freq_mhz``).
    metric_crs : pyproj.CRS or str, keyword-only
        Where distances are measured (and the DEM's CRS).
    terrain : Raster, optional, keyword-only
        The DEM, in ``metric_crs``. Without it ``terrain_loss_db`` and
        ``behind_terrain`` are missing (not known).

    Returns
    -------
    DataFrame
        :data:`NEAREST_SITE_COLUMNS`: ``distance_m`` rounded to the metre,
        ``terrain_loss_db`` the profile's loss at the site's lowest cell
        frequency and highest antenna (the most forgiving), ``behind_terrain``
        whether it passes :data:`LINE_OF_SIGHT_LOSS_DB` (None without a DEM).

    Examples
    --------
    >>> import shapely
    >>> v = gpd.GeoDataFrame({"id": ["a"], "centre_lon": [105.50], "centre_lat": [22.56]},
    ...     geometry=[shapely.Point(105.50, 22.56)], crs="EPSG:4326")
    >>> s = pd.DataFrame({"site_id": ["n", "f"], "carrier": ["Viettel", "Viettel"],
    ...     "lon": [105.51, 105.60], "lat": [22.56, 22.56], "height_m": 30.0,
    ...     "freq_mhz": 1800.0})
    >>> near = nearest_sites(v, s, metric_crs="EPSG:32648")
    >>> near[["site_id", "distance_m"]].to_dict("records")
    [{'site_id': 'n', 'distance_m': 1028}]
    """
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in NEAREST_SITE_COLUMNS})
    if villages.empty or sites.empty:
        return empty
    to_metric = pyproj.Transformer.from_crs(C.CRS_WGS84, metric_crs, always_xy=True)
    vx, vy = to_metric.transform(
        villages["centre_lon"].to_numpy(float), villages["centre_lat"].to_numpy(float)
    )
    vx, vy = np.asarray(vx), np.asarray(vy)
    # One mast per (carrier, site): its cells share the position.
    masts = (
        sites.assign(site_id=sites["site_id"].astype(str))
        .groupby(["carrier", "site_id"], sort=True)
        .agg(
            lon=("lon", "first"),
            lat=("lat", "first"),
            height_m=("height_m", "max"),
            freq_mhz=("freq_mhz", "min"),
        )
        .reset_index()
    )
    mx, my = to_metric.transform(masts["lon"].to_numpy(float), masts["lat"].to_numpy(float))
    masts["x"], masts["y"] = np.asarray(mx), np.asarray(my)
    found = []
    for carrier, group in masts.groupby("carrier", sort=True):
        tree = cKDTree(np.column_stack([group["x"], group["y"]]))
        distance, which = tree.query(np.column_stack([vx, vy]))
        found.append(
            pd.DataFrame(
                {
                    "village_id": villages["id"].to_numpy(),
                    "carrier": str(carrier),
                    "mast": group.index.to_numpy()[which],
                    "distance_m": np.rint(distance).astype(int),
                    "x": vx,
                    "y": vy,
                }
            )
        )
    table = pd.concat(found, ignore_index=True)
    table["site_id"] = masts.loc[table["mast"], "site_id"].to_numpy()
    loss = np.full(len(table), np.nan)
    if terrain is not None:
        dem = float32_terrain(terrain)
        # A loop over distinct masts (tens to hundreds), each with its villages as an array.
        for mast, rows in table.groupby("mast").indices.items():
            site = masts.loc[mast]
            loss[rows] = diffraction_loss_db(
                dem,
                (float(site["x"]), float(site["y"])),
                float(site["height_m"]),
                table["x"].to_numpy(float)[rows],
                table["y"].to_numpy(float)[rows],
                float(site["freq_mhz"]),
            )
    known = np.isfinite(loss)
    table["terrain_loss_db"] = pd.Series(np.round(loss, 1)).where(known, None).astype(object)
    table["behind_terrain"] = pd.Series(
        np.where(known, loss > LINE_OF_SIGHT_LOSS_DB, False), dtype=object
    ).where(known, None)
    return table[list(NEAREST_SITE_COLUMNS)]
