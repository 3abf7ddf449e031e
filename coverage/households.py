"""Where a village's households live: a weight per (village, H3 cell).

Sources, in order of preference (the best a planner has wins):

1. **building footprints or points** (OpenStreetMap, Google Open Buildings,
   Microsoft footprints; :func:`place_with_buildings`): a house is where a
   household lives;
2. **a population or settlement raster** (WorldPop 100 m, GHSL;
   :func:`place_with_raster`): each pixel's value goes to the cell under it;
3. **the evidence at hand** (:func:`settle_from_evidence`): valley floors
   and gentle slopes from the DEM, cells where phones were read, nearness
   to the village centre;
4. an even spread over the village (:func:`spread_evenly`), when there is
   neither terrain nor readings.

Each village's weights are scaled to its recorded households; a village a
source says nothing about (no building, no populated pixel inside) falls
back to the next source.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from coverage._kernels import points_in_polygons
from geodata import constants as C
from geodata.hexgrid import cell_centres, cells_for_points
from geodata.raster import Raster

# Settlement prior without a population source (settle_from_evidence). Hill
# villages of northern Vietnam are strung along valley floors, streams and
# roads (Tày and Dao stilt houses on the flats and the foot of slopes; rice
# terraces and forest above): a cell's weight falls with its slope (half at
# SETTLED_SLOPE_DEG, the steepest ground house platforms are cut into) and
# with its height above the village's lowest ground (1/e at
# SETTLED_RELIEF_M), and halves SETTLED_DISTANCE_M from the village centre.
# Cells where phones were read weigh 1 + READINGS_BOOST times more: field
# teams walk the paths between houses, and crowd readings come from where
# people live, so in a surveyed village a cell nobody read is mostly forest
# or cliff. (On 10 demo seeds without the population raster, a boost of 2
# left 8.7 % of covered villages called patchy, 5 left 5.8 %.)
SETTLED_SLOPE_DEG = 15.0
SETTLED_RELIEF_M = 80.0
SETTLED_DISTANCE_M = 2000.0
READINGS_BOOST = 5.0


def spread_evenly(village_cells: pd.DataFrame, villages: gpd.GeoDataFrame) -> pd.DataFrame:
    """Households split evenly across each village's cells.

    Returns rows ``(village_id, h3, households)`` (float households).
    """
    sizes = village_cells.groupby("village_id")["h3"].transform("size")
    totals = village_cells["village_id"].map(villages.set_index("id")["households"])
    return village_cells.assign(
        households=totals.to_numpy(float) / sizes.to_numpy(float), placed_by="even"
    )


def place_with_raster(
    population: Raster,
    villages: gpd.GeoDataFrame,
    village_cells: pd.DataFrame,
    *,
    resolution: int,
    fallback: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Households per (village, cell) from a population raster.

    Pixels with a positive value are assigned to the village containing
    their centre and to the H3 cell under it; each village's weights are
    scaled to its ``households``. A village whose polygon holds no populated
    pixel takes its rows from ``fallback`` (an even spread when None).
    """
    x, y = population.pixel_centres()
    values = population.values
    populated = np.isfinite(values) & (values > 0)
    to_wgs84 = pyproj.Transformer.from_crs(population.crs, C.CRS_WGS84, always_xy=True)
    lon, lat = to_wgs84.transform(x[populated], y[populated])
    pixels = gpd.GeoDataFrame(
        {"weight": values[populated]},
        geometry=gpd.points_from_xy(lon, lat),
        crs=C.CRS_WGS84,
    )
    joined = gpd.sjoin(pixels, villages[["id", "geometry"]], predicate="within", how="inner")
    joined["h3"] = cells_for_points(
        joined.geometry.y.to_numpy(), joined.geometry.x.to_numpy(), resolution=resolution
    )
    weights = joined.groupby(["id", "h3"], as_index=False)["weight"].sum()
    placed = _scaled(weights.rename(columns={"id": "village_id"}), villages, placed_by="raster")
    if fallback is None:
        fallback = spread_evenly(village_cells, villages)
    missing = ~fallback["village_id"].isin(placed["village_id"])
    return pd.concat([placed, fallback.loc[missing]], ignore_index=True)


def _scaled(weights: pd.DataFrame, villages: gpd.GeoDataFrame, *, placed_by: str) -> pd.DataFrame:
    """Scale cell weights to each village's recorded households.

    ``village_id, h3, weight`` -> ``village_id, h3, households, placed_by``;
    ``placed_by`` names the source (see :data:`coverage.thresholds.SETTLEMENTS`).
    """
    share = weights["weight"] / weights.groupby("village_id")["weight"].transform("sum")
    totals = weights["village_id"].map(villages.set_index("id")["households"]).astype(float)
    placed = weights.assign(households=share * totals, placed_by=placed_by)
    return placed[["village_id", "h3", "households", "placed_by"]]


def slope_degrees(terrain: Raster) -> Raster:
    """Ground slope (degrees) of a metric DEM, over 3 × 3 pixels."""
    values = np.nan_to_num(terrain.values.astype(float), nan=float(np.nanmean(terrain.values)))
    dy, dx = np.gradient(values, terrain.pixel_size)
    return Raster(np.degrees(np.arctan(np.hypot(dx, dy))), terrain.transform, terrain.crs)


def settle_from_evidence(
    village_cells: pd.DataFrame,
    villages: gpd.GeoDataFrame,
    *,
    metric_crs: object,
    terrain: Raster | None = None,
    reading_cells: np.ndarray | None = None,
) -> pd.DataFrame:
    """Households per (village, cell) from the terrain, the readings and the centre.

    Without a population source, spreading households evenly puts them on
    cliffs and hilltops, where nobody lives and no signal reaches, and calls
    nearly every village *lõm sóng*. The weight of a cell is the product of

    - 1 / (1 + (slope / :data:`SETTLED_SLOPE_DEG`)⁴) and
      exp(−relief / :data:`SETTLED_RELIEF_M`), relief being the height above
      the village's lowest tenth of cells (with ``terrain``);
    - 1 + :data:`READINGS_BOOST` where readings were taken (``reading_cells``);
    - 1 / (1 + (d / :data:`SETTLED_DISTANCE_M`)²), d from the village centre.

    Parameters
    ----------
    village_cells : DataFrame
        ``village_id, h3``.
    villages : GeoDataFrame
        ``id, households, centre_lon, centre_lat``.
    metric_crs : CRS-like, keyword-only
        The terrain's CRS (a UTM zone), where distances are measured.
    terrain : Raster, optional, keyword-only
    reading_cells : numpy.ndarray, optional, keyword-only
        uint64 cells (the villages' resolution) holding any reading.

    Returns
    -------
    DataFrame
        ``village_id, h3, households, placed_by``.
    """
    if village_cells.empty:
        return village_cells.assign(households=pd.Series(dtype=float), placed_by="evidence")
    cells = village_cells["h3"].to_numpy(np.uint64)
    lat, lon = cell_centres(cells)
    to_metric = pyproj.Transformer.from_crs(C.CRS_WGS84, metric_crs, always_xy=True)
    x, y = (np.asarray(v) for v in to_metric.transform(lon, lat))
    centres = villages.set_index("id").loc[village_cells["village_id"]]
    cx, cy = (
        np.asarray(v)
        for v in to_metric.transform(
            centres["centre_lon"].to_numpy(float), centres["centre_lat"].to_numpy(float)
        )
    )
    distance = np.hypot(x - cx, y - cy)
    weight = 1.0 / (1.0 + (distance / SETTLED_DISTANCE_M) ** 2)
    if terrain is not None:
        slope = np.nan_to_num(slope_degrees(terrain).sample(x, y), nan=0.0)
        height = terrain.sample(x, y)
        floor = (
            pd.Series(height)
            .groupby(village_cells["village_id"].to_numpy())
            .transform(lambda h: np.nanquantile(h, 0.1) if np.isfinite(h).any() else np.nan)
        ).to_numpy(float)
        relief = np.nan_to_num(np.maximum(height - floor, 0.0), nan=0.0)
        weight *= 1.0 / (1.0 + (slope / SETTLED_SLOPE_DEG) ** 4)
        weight *= np.exp(-relief / SETTLED_RELIEF_M)
    if reading_cells is not None and len(reading_cells):
        weight *= 1.0 + READINGS_BOOST * np.isin(cells, reading_cells)
    weights = village_cells.assign(weight=np.maximum(weight, 1e-9))
    return _scaled(weights, villages, placed_by="evidence")


def place_with_buildings(
    lon: np.ndarray,
    lat: np.ndarray,
    villages: gpd.GeoDataFrame,
    village_cells: pd.DataFrame,
    *,
    resolution: int,
    fallback: pd.DataFrame,
) -> pd.DataFrame:
    """Households per (village, cell) from buildings (one point per building).

    Each building inside a village counts once in the cell under it; the
    village's cells are scaled to its recorded households. Villages without
    any building take their rows from ``fallback`` (the next source).

    >>> import shapely
    >>> v = gpd.GeoDataFrame({"id": ["a"], "households": [10]},
    ...     geometry=[shapely.box(105.0, 22.0, 105.01, 22.01)], crs="EPSG:4326")
    >>> h3 = cells_for_points(np.array([22.005]), np.array([105.005]), resolution=10)
    >>> cells = pd.DataFrame({"village_id": ["a"], "h3": h3})
    >>> placed = place_with_buildings(np.array([105.005, 105.005]), np.array([22.005, 22.005]),
    ...     v, cells, resolution=10, fallback=cells.assign(households=10.0))
    >>> placed["households"].tolist()
    [10.0]
    """
    point, polygon = points_in_polygons(villages.geometry.to_numpy(), lon, lat)
    if point.size == 0:
        return fallback
    inside = pd.DataFrame(
        {
            "village_id": villages["id"].to_numpy()[polygon],
            "h3": cells_for_points(
                np.asarray(lat)[point], np.asarray(lon)[point], resolution=resolution
            ),
            "weight": 1.0,
        }
    )
    weights = inside.groupby(["village_id", "h3"], as_index=False)["weight"].sum()
    placed = _scaled(weights, villages, placed_by="buildings")
    missing = ~fallback["village_id"].isin(placed["village_id"])
    return pd.concat([placed, fallback.loc[missing]], ignore_index=True)


def place_households(
    villages: gpd.GeoDataFrame,
    village_cells: pd.DataFrame,
    *,
    resolution: int,
    metric_crs: object,
    terrain: Raster | None = None,
    population: Raster | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    reading_cells: np.ndarray | None = None,
) -> pd.DataFrame:
    """Households per (village, cell) from the best source given (see the module).

    Returns rows ``village_id, h3, households``.
    """
    if terrain is not None or (reading_cells is not None and len(reading_cells)):
        placed = settle_from_evidence(
            village_cells,
            villages,
            metric_crs=metric_crs,
            terrain=terrain,
            reading_cells=reading_cells,
        )
    else:
        placed = spread_evenly(village_cells, villages)
    if population is not None:
        placed = place_with_raster(
            population, villages, village_cells, resolution=resolution, fallback=placed
        )
    if buildings is not None and len(buildings):
        points = buildings.to_crs(C.CRS_WGS84).geometry.representative_point()
        placed = place_with_buildings(
            points.x.to_numpy(),
            points.y.to_numpy(),
            villages,
            village_cells,
            resolution=resolution,
            fallback=placed,
        )
    return placed
