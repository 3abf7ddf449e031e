"""A tiny two-commune region (three square villages, one site) and a client on it.

Synthetic data, built here; coordinates lie inside the real communes'
bounding boxes (DESIGN.md) but the shapes are squares, not real boundaries.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from app.store import Store
from geodata.sites import normalise_sites
from geodata.villages import normalise_villages

WGS84 = "EPSG:4326"


@pytest.fixture
def communes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ["thuong-nong", "linh-phu"],
            "name": ["Thượng Nông", "Linh Phú"],
            "district": ["Na Hang", "Chiêm Hóa"],
            "province": ["Tuyên Quang", "Tuyên Quang"],
        },
        geometry=[
            shapely.box(105.46, 22.55, 105.51, 22.58),
            shapely.box(105.40, 22.00, 105.45, 22.03),
        ],
        crs=WGS84,
    )


@pytest.fixture
def villages() -> gpd.GeoDataFrame:
    raw = gpd.GeoDataFrame(
        {
            "id": ["ban-giong", "na-ta", "dong-da-1"],
            "name": ["Bản Giòng", "Nà Tà", "Đống Đa 1"],
            "commune": ["Thượng Nông", "Thượng Nông", "Linh Phú"],
            "district": ["Na Hang", "Na Hang", "Chiêm Hóa"],
            "province": ["Tuyên Quang", "Tuyên Quang", "Tuyên Quang"],
            "households": [98, 40, 61],
            "poverty_rate": [0.6, 0.3, 0.2],
        },
        geometry=[
            shapely.box(105.490, 22.560, 105.500, 22.570),
            shapely.box(105.470, 22.560, 105.480, 22.570),
            shapely.box(105.410, 22.010, 105.420, 22.020),
        ],
        crs=WGS84,
    )
    return normalise_villages(raw)


@pytest.fixture
def sites() -> pd.DataFrame:
    """One Viettel LTE omni site at Bản Giòng's centre."""
    return normalise_sites(
        pd.DataFrame(
            {
                "radio": ["LTE"],
                "mcc": [452],
                "net": [4],
                "area": [101],
                "cell": [1001],
                "lon": [105.495],
                "lat": [22.565],
                "range": [3000],
            }
        )
    )


@pytest.fixture
def results() -> pd.DataFrame:
    """Stored verdicts for the three villages, as the analysis would write them."""
    return pd.DataFrame(
        {
            "id": ["ban-giong", "na-ta", "dong-da-1"],
            "verdict": ["patchy", "covered", "no_signal"],
            "households_without_signal": [40, 0, 61],
            "best_carrier": ["VinaPhone", "Viettel", None],
            "carriers": [
                {
                    "VinaPhone": {
                        "households_without_signal": 40,
                        "centre_p_usable": 0.6,
                        "radio": "lte",
                        "evidence": "measured",
                    },
                    "Viettel": {
                        "households_without_signal": 98,
                        "centre_p_usable": 0.05,
                        "radio": "lte",
                        "evidence": "predicted",
                    },
                },
                {
                    "Viettel": {
                        "households_without_signal": 0,
                        "centre_p_usable": 0.97,
                        "radio": "lte",
                        "evidence": "measured",
                    }
                },
                {},
            ],
            "readings_count": [12, 5, 0],
            "last_reading": ["2026-01-05", "2026-01-04", None],
        }
    )


@pytest.fixture
def dead_zone_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ["thuong-nong-dz-001", "linh-phu-dz-001"],
            "commune_id": ["thuong-nong", "linh-phu"],
            "verdict": ["patchy", "no_signal"],
            "area_km2": [0.3, 1.1],
            "households": [40, 61],
            "village_ids": [["ban-giong"], ["dong-da-1"]],
            "carriers_absent": [["Viettel"], ["MobiFone", "Viettel"]],
            "nearest_site_m": [2600.0, 3500.0],
        },
        geometry=[
            shapely.box(105.491, 22.561, 105.494, 22.564),
            shapely.box(105.410, 22.010, 105.420, 22.020),
        ],
        crs=WGS84,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", device_salt="test-salt", environment="local")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client on an empty store (the lifespan runs)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def store(client: TestClient) -> Store:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    return store


@pytest.fixture
def loaded_store(
    store: Store,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    results: pd.DataFrame,
    dead_zone_frame: gpd.GeoDataFrame,
) -> Store:
    """The client's store holding the tiny region, fixed verdicts and dead zones."""
    store.replace_region(communes, villages, sites)
    store.save_results(results)
    store.replace_dead_zones(dead_zone_frame)
    return store
