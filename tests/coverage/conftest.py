"""Tiny synthetic region for the analysis tests: two villages, one site."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodata.readings import validate_readings
from geodata.sites import normalise_sites
from geodata.villages import normalise_villages

NOW = pd.Timestamp("2026-03-01T00:00:00Z")


@pytest.fixture
def villages() -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {
            "id": ["a", "b"],
            "name": ["Nà Khản", "Bản Giòng"],
            "commune": ["Thượng Nông"] * 2,
            "district": ["Na Hang"] * 2,
            "province": ["Tuyên Quang"] * 2,
            "households": [50, 98],
        },
        geometry=[
            shapely.box(105.480, 22.560, 105.490, 22.570),
            shapely.box(105.520, 22.560, 105.530, 22.570),
        ],
        crs="EPSG:4326",
    )
    return normalise_villages(frame)


@pytest.fixture
def sites() -> pd.DataFrame:
    return normalise_sites(
        pd.DataFrame(
            {
                "radio": ["LTE"],
                "mcc": [452],
                "net": [2],
                "area": [1201],
                "cell": [1001],
                "lon": [105.485],
                "lat": [22.558],
                "site_id": ["s1"],
                "name": ["Test_TQG"],
                "height_m": [30.0],
                "eirp_dbm": [62.0],
                "freq_mhz": [1800.0],
            }
        )
    )


def readings_grid(
    west: float, south: float, *, n: int, no_service: bool, signal: float, seed: int = 0
) -> pd.DataFrame:
    """``n`` readings spread over a 1 km square, all with or without service."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "time": pd.date_range("2026-01-05", periods=n, freq="37min", tz="UTC").strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "lat": south + rng.uniform(0, 0.01, n),
            "lon": west + rng.uniform(0, 0.01, n),
            "accuracy_m": 10.0,
            "mcc": 452,
            "mnc": 2,
            "radio": "lte",
            "signal_dbm": np.nan if no_service else signal + rng.normal(0, 2, n),
            "no_service": no_service,
            "device": [f"d{i % 4}" for i in range(n)],
        }
    )


@pytest.fixture
def readings() -> pd.DataFrame:
    raw = pd.concat(
        [
            readings_grid(105.480, 22.560, n=600, no_service=False, signal=-85.0),
            readings_grid(105.520, 22.560, n=600, no_service=True, signal=0.0, seed=1),
        ],
        ignore_index=True,
    )
    result = validate_readings(raw, now=NOW)
    assert result.rejected == []
    return result.valid
