"""Where the analysis works: cell centres in metres, and predictions at them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj

from coverage.propagation import CoarseTerrain, predict_signal
from geodata import constants as C
from geodata.hexgrid import cell_centres, cell_resolutions, change_resolution, unique_cells
from geodata.raster import Raster
from geodata.sites import carrier_names

# Terrain profiles run to the centres of cells at this resolution (res 9,
# ~175 m across): finer cells away from a site share their parent's
# terrain loss (see coverage.propagation.EXACT_TERRAIN_WITHIN_M). A res-9
# parent has seven res-10 children: one profile instead of seven, while the
# path loss and the antenna pattern stay per cell.
TERRAIN_RESOLUTION = 9


def nearby_cells(
    cells: pd.Series, bounds: tuple[float, ...], margin_deg: float = 0.02
) -> np.ndarray:
    """The cells (uint64) whose centres lie within the bounds plus ~2 km."""
    cells = unique_cells(cells.to_numpy(np.uint64))
    lat, lon = cell_centres(cells)
    west, south, east, north = bounds
    inside = (lon >= west - margin_deg) & (lon <= east + margin_deg)
    inside &= (lat >= south - margin_deg) & (lat <= north + margin_deg)
    return cells[inside]


def metric_centres(cells: np.ndarray, metric_crs: object) -> tuple[pd.Series, pd.Series]:
    """Cell centres in the metric CRS, as two Series indexed by the uint64 cell."""
    lat, lon = cell_centres(cells)
    to_metric = pyproj.Transformer.from_crs(C.CRS_WGS84, metric_crs, always_xy=True)
    x, y = to_metric.transform(lon, lat)
    index = pd.Index(cells, name="h3")
    return pd.Series(np.asarray(x), index=index), pd.Series(np.asarray(y), index=index)


def coarse_terrain(
    cells: np.ndarray, metric_crs: object, *, exact: np.ndarray | None = None
) -> CoarseTerrain | None:
    """The cells' parents at :data:`TERRAIN_RESOLUTION`, in metres, or None
    when the cells are no finer than that. ``exact`` (uint64 cells) always
    get a terrain profile of their own."""
    cells = np.asarray(cells, dtype=np.uint64)
    if len(cells) == 0:
        return None
    finest = int(cell_resolutions(cells).max())
    if finest <= TERRAIN_RESOLUTION:
        return None
    parents = change_resolution(cells, TERRAIN_RESOLUTION)
    distinct, of_cell = np.unique(parents, return_inverse=True)
    x, y = metric_centres(distinct, metric_crs)
    always = np.isin(cells, exact) if exact is not None else np.zeros(len(cells), dtype=bool)
    return CoarseTerrain(x.to_numpy(), y.to_numpy(), of_cell, always)


def predict_cells(
    x: pd.Series,
    y: pd.Series,
    sites: pd.DataFrame,
    terrain: Raster | None,
    metric_crs: object,
    *,
    measured: np.ndarray | None = None,
) -> pd.DataFrame:
    """Predicted dBm per (cell, carrier, radio) at cell centres given in metres.

    With terrain, a cell finer than :data:`TERRAIN_RESOLUTION`, away from a
    site and without readings, takes the terrain loss of its parent's centre
    where that leaves the site hopeless there (see
    :func:`coverage.propagation.predict_signal`); ``measured`` (uint64
    cells with readings) always get their own profile. Without
    ``measured``, every cell gets its own.
    """
    columns = ["h3", "carrier", "radio", "predicted_dbm", "site_id", "distance_m", "diffraction_db"]
    if len(sites) == 0 or len(x) == 0:
        return pd.DataFrame(
            {
                "h3": pd.Series(dtype="uint64"),
                "carrier": pd.Series(dtype="string"),
                "radio": pd.Series(dtype=object),
                "predicted_dbm": pd.Series(dtype=float),
                "site_id": pd.Series(dtype=object),
            }
        )
    to_metric = pyproj.Transformer.from_crs(C.CRS_WGS84, metric_crs, always_xy=True)
    site_x, site_y = to_metric.transform(sites["lon"].to_numpy(float), sites["lat"].to_numpy(float))
    sites = sites.assign(carrier=carrier_names(sites["mcc"], sites["mnc"]))
    coarse = None
    if terrain is not None and measured is not None:
        coarse = coarse_terrain(x.index.to_numpy(np.uint64), metric_crs, exact=measured)
    best = predict_signal(
        sites,
        x.to_numpy(float),
        y.to_numpy(float),
        site_x=np.asarray(site_x),
        site_y=np.asarray(site_y),
        dem=terrain,
        coarse=coarse,
    )
    best["h3"] = x.index.to_numpy(np.uint64)[best["point"].to_numpy(int)]
    return best[columns]
