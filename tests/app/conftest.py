"""A tiny two-commune region (three square villages, one site) and a client on it.

Synthetic data, built here; coordinates lie inside the real communes'
bounding boxes (DESIGN.md) but the shapes are squares, not real boundaries.

``LOMSONG_TEST_BACKEND=postgresql`` (``make pytest``'s second pass over
``tests/app/api``; the store's tests run on both backends in the first pass,
through the ``database`` fixture) gives every test a fresh
PostgreSQL database as ``LOMSONG_DATABASE_URL``: every ``Settings`` a test
builds, and so its client and the servers it starts, store there. Tests
about SQLite files themselves skip in that pass (:func:`sqlite_only`), and
tests parametrised over both backends are left out (the first pass ran both).
"""

from __future__ import annotations

import os
import uuid
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
from app.store.db import PostgresDatabase
from app.store.schema import migrate
from geodata.sites import normalise_sites
from geodata.villages import normalise_villages
from tests import postgres

WGS84 = "EPSG:4326"

#: Which store the app's tests use: ``sqlite`` (the default) or ``postgresql``.
TEST_BACKEND = os.environ.get("LOMSONG_TEST_BACKEND", "sqlite")
if TEST_BACKEND not in ("sqlite", "postgresql"):
    raise RuntimeError(f"LOMSONG_TEST_BACKEND must be sqlite or postgresql, not {TEST_BACKEND!r}")
ON_POSTGRES = TEST_BACKEND == "postgresql"

#: Mark a test about SQLite files themselves: it skips in the PostgreSQL pass.
sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="about SQLite files (PostgreSQL pass)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In the PostgreSQL pass, drop the both-backend tests: the first pass ran both cases."""
    if not ON_POSTGRES:
        return
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        (dropped if "database" in params else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


_DATABASES: dict[Path, str] = {}
_MIGRATED: list[str] = []  # the name of a template database holding the whole schema


def migrated_database() -> str:
    """A fresh PostgreSQL database already at the schema's version (a template's copy).

    Migrating a new database takes about a second here; copying one that
    is migrated takes a fraction of it, and the PostgreSQL pass makes
    hundreds. (The store tests still build theirs from nothing.)
    """
    import psycopg

    cluster = postgres.server()
    if not _MIGRATED:
        url = postgres.fresh_database()
        db = PostgresDatabase(url)
        migrate(db)
        db.close()
        _MIGRATED.append(url.split("?")[0].rsplit("/", 1)[1])
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {_MIGRATED[0]}")
    return cluster.url(name)


def database_url_for(data_dir: Path) -> str | None:
    """``LOMSONG_DATABASE_URL`` for a fixture's own data dir: ``None`` (SQLite), or in
    the PostgreSQL pass one fresh database per data dir (module and session fixtures,
    which outlive :func:`postgres_backend`'s per-test database).
    """
    if not ON_POSTGRES:
        return None
    key = Path(data_dir).resolve()
    if key not in _DATABASES:
        _DATABASES[key] = migrated_database()
    return _DATABASES[key]


def store_location(data_dir: Path) -> Path | str:
    """The store of ``data_dir`` as the service opens it: its SQLite file, or its database."""
    return database_url_for(data_dir) or Settings(data_dir=data_dir, demo=True).db_path


@pytest.fixture(autouse=ON_POSTGRES)
def postgres_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[str | None]:
    """In the PostgreSQL pass: a fresh database, as ``LOMSONG_DATABASE_URL``, for each test.

    It is dropped after the test: the pass creates hundreds, and each is a
    copy of the PostGIS template on disk.
    """
    if not ON_POSTGRES:
        yield None
        return
    try:
        url = migrated_database()
    except RuntimeError as error:
        if os.environ.get("LOMSONG_REQUIRE_POSTGRES") == "1":
            pytest.fail(str(error))
        pytest.skip(str(error))
    monkeypatch.setenv("LOMSONG_DATABASE_URL", url)
    yield url
    import psycopg

    with psycopg.connect(postgres.server().admin_url, autocommit=True) as conn:
        name = url.split("?")[0].rsplit("/", 1)[1]
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


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
    """The service's settings on a temporary data dir (its store: see the module's docstring)."""
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
    return load_tiny_region(store, communes, villages, sites, results, dead_zone_frame)


def load_tiny_region(
    store: Store,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    results: pd.DataFrame,
    dead_zone_frame: gpd.GeoDataFrame,
) -> Store:
    """Store the tiny region, its fixed verdicts and dead zones in ``store``; return it."""
    store.replace_region(communes, villages, sites)
    store.save_results(results)
    store.replace_dead_zones(dead_zone_frame)
    return store
