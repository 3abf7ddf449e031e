"""Where a village's households live: a weight per (village, H3 cell).

With a population or settlement raster (WorldPop, GHSL, or the demo's), each
pixel's value goes to the village and cell under its centre, and the village
total is scaled to its recorded households. Without one, households spread
evenly over the village's cells.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from coverage.hexgrid import cells_for_points
from geodata import constants as C
from geodata.raster import Raster


def spread_evenly(village_cells: pd.DataFrame, villages: gpd.GeoDataFrame) -> pd.DataFrame:
    """Households split evenly across each village's cells.

    Returns rows ``(village_id, h3, households)`` (float households).
    """
    sizes = village_cells.groupby("village_id")["h3"].transform("size")
    totals = village_cells["village_id"].map(villages.set_index("id")["households"])
    return village_cells.assign(households=totals.to_numpy(float) / sizes.to_numpy(float))


def place_with_raster(
    population: Raster,
    villages: gpd.GeoDataFrame,
    village_cells: pd.DataFrame,
    *,
    resolution: int,
) -> pd.DataFrame:
    """Households per (village, cell) from a population raster.

    Pixels with a positive value are assigned to the village containing
    their centre and to the H3 cell under it; each village's weights are
    scaled to its ``households``. A village whose polygon holds no populated
    pixel falls back to an even spread.
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
    joined["h3"] = cells_for_points(joined.geometry.y.to_numpy(), joined.geometry.x.to_numpy(),
                                    resolution=resolution)  # fmt: skip
    weights = joined.groupby(["id", "h3"], as_index=False)["weight"].sum()
    weights = weights.rename(columns={"id": "village_id"})
    share = weights["weight"] / weights.groupby("village_id")["weight"].transform("sum")
    totals = weights["village_id"].map(villages.set_index("id")["households"]).astype(float)
    placed = weights.assign(households=share * totals)[["village_id", "h3", "households"]]
    missing = ~village_cells["village_id"].isin(placed["village_id"])
    fallback = spread_evenly(village_cells.loc[missing], villages)
    return pd.concat([placed, fallback], ignore_index=True)
